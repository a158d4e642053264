"""The fast path's per-process cache of facts: the facts query's row for a token,
model, revision, file and day, with the access version it was read at.

The cache is safe only because of what the writing statement does (fastissue): it
writes anything (the link, the event, the count, a refusal) only if the
`access_version` row still holds the version the cached facts were read at. Every
committed change to what the policy reads moves that version on (PostgreSQL
triggers, migration 0019), so a change committed before the statement is always
honoured: on a mismatch the statement writes nothing, the process drops its whole
cache and the request takes the full path. What the facts say about time (token and
grant expiry, organisation agreements, an embargo falling due) is worked out from the
row on every request, and the tiers (agreement versions) are the process's own, so
neither is ever cached. Today's quota counters may be behind in the cache: the
upsert re-checks the limit on the locked counter row, as it does for two requests
racing, so a stale count can only turn into the over-quota refusal, never into a
link past the quota.

A plain dict rather than a caching library: entries are invalidated by the version
check, not by time or size, and the whole cache is emptied on a mismatch (or when
it fills up), which is all this needs. Its operations are atomic under the GIL, so
the worker's threads share it without a lock; two threads updating one entry at once
can at worst leave a count that is behind, which is safe (above).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

# Entries per process: each is one small row (a token's facts for one file and day).
MAX_ENTRIES = 8192


@dataclass
class Entry:
    version: int
    row: tuple[Any, ...]  # the facts, without the version column


_entries: dict[Hashable, Entry] = {}


def get(key: Hashable) -> Entry | None:
    return _entries.get(key)


def put(key: Hashable, entry: Entry) -> None:
    if key not in _entries and len(_entries) >= MAX_ENTRIES:
        _entries.clear()  # start again rather than track recency on every hit
    _entries[key] = entry


def drop(key: Hashable) -> None:
    _entries.pop(key, None)


def clear() -> None:
    """Forget everything (an access change was seen, or a test wants a cold cache)."""
    _entries.clear()


def replaced(row: tuple[Any, ...], index: int, value: Any) -> tuple[Any, ...]:
    """`row` with the field at `index` set to `value`."""
    fields = list(row)
    fields[index] = value
    return tuple(fields)


def size() -> int:
    return len(_entries)
