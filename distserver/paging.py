"""Keyset pagination, the one way long listings are paged (the audit log in the API and
on the staff pages): newest first by a strictly increasing integer key (an event's id,
which follows the order of the hash chain's sequence numbers and, unlike them, exists
before an event is sealed). A page is asked for by `before` (the rows older than a key)
or `after` (the rows newer than it), never by OFFSET, so a page costs the same at the
end of the log as at its start and rows written meanwhile do not shift it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from distserver.errors import BadRequest
from distserver.inputs import int_arg

# A select of any number of columns (SQLAlchemy 2.1 types Select by its columns).
AnySelect = Select[*tuple[Any, ...]]
Row = TypeVar("Row")
PAGE_SIZE = 50
MAX_KEY = 2**63 - 1  # keys are 64-bit; a larger number would overflow the driver


@dataclass(frozen=True)
class Keyset:
    before: int | None = None
    after: int | None = None


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    older: int | None  # the `before` of the next (older) page, None on the last one
    newer: int | None  # the `after` of the previous (newer) page, None on the first one


def keyset_args(args: Mapping[str, str]) -> Keyset:
    """`before` (or its older name `cursor`) or `after` from a query string; BadRequest
    names a malformed one, or both given at once."""
    before = int_arg(args, "before", None, 1, MAX_KEY)
    if before is None:
        before = int_arg(args, "cursor", None, 1, MAX_KEY)
    after = int_arg(args, "after", None, 0, MAX_KEY)
    if before is not None and after is not None:
        raise BadRequest("Give 'before' or 'after', not both.", code="invalid_parameter")
    return Keyset(before, after)


def keyset_page(
    session: Session,
    query: AnySelect,
    key: ColumnElement[int] | InstrumentedAttribute[int],
    keyset: Keyset,
    key_of: Callable[[Any], int],
    limit: int = PAGE_SIZE,
) -> Page[Any]:
    """One page of `query` newest first by `key`, in one statement (limit + 1 rows tell
    whether there is more). `key_of(row)` reads a row's key."""
    if keyset.after is not None:
        query = query.where(key > keyset.after).order_by(key.asc())
    else:
        if keyset.before is not None:
            query = query.where(key < keyset.before)
        query = query.order_by(key.desc())
    rows = list(session.execute(query.limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    older: int | None
    if keyset.after is not None:
        rows.reverse()
        # Rows at or before `after` exist: it came from one of them.
        older, newer = (key_of(rows[-1]) if rows else keyset.after + 1), more
    else:
        older, newer = (key_of(rows[-1]) if more and rows else None), keyset.before is not None
    return Page(
        rows=rows,
        older=older,
        newer=key_of(rows[0]) if newer and rows else None,
    )
