"""Reading the audit log for auditors: the filters shared by GET /api/v1/audit/events,
the staff audit page and its export, one page of events with a cursor, the filtered
sealed-event stream for exports, and downloads per day aggregated in SQL."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from distserver.audit.chain import CHAINED_FIELDS
from distserver.audit.export import export_line
from distserver.audit.models import AuditEvent, AuditSeal
from distserver.audit.tags import EventTag
from distserver.audit.verify import csv_rows, csv_writer, stream_sealed
from distserver.errors import BadRequest, Forbidden
from distserver.identity import Principal, require_signed_in
from distserver.inputs import int_arg  # noqa: F401  (the strict parser, used by the audit views)

AUDIT_ROLES = frozenset({"auditor", "admin"})
DOWNLOAD_TAG = str(EventTag.LINK_ISSUED)


def require_auditor(principal: Principal) -> None:
    """Only signed-in, unsuspended auditors and admins read the audit log."""
    require_signed_in(principal)
    if principal.suspended or not principal.roles & AUDIT_ROLES:
        raise Forbidden("Only auditors and admins may read the audit log.", code="forbidden")


@dataclass(frozen=True)
class EventFilter:
    model: str | None = None
    user: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.model:
            query = query.where(AuditEvent.model == self.model)
        if self.user:
            query = query.where(AuditEvent.actor == self.user)
        if self.action:
            # A full tag matches exactly; "download" or "download:link" match every tag under it.
            if self.action.count(":") >= 2:
                query = query.where(AuditEvent.tag == self.action)
            else:
                query = query.where(AuditEvent.tag.startswith(self.action + ":", autoescape=True))
        if self.since is not None:
            query = query.where(AuditEvent.occurred_at >= self.since)
        if self.until is not None:
            query = query.where(AuditEvent.occurred_at < self.until)
        return query

    def args(self) -> dict[str, str]:
        """The filter as query-string arguments (for links to the next page or an export)."""
        values = {"model": self.model, "user": self.user, "action": self.action}
        values |= {"since": _iso(self.since), "until": _iso(self.until)}
        return {k: v for k, v in values.items() if v}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def time_arg(args: Mapping[str, str], name: str) -> datetime | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name!r} must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z.",
            code="invalid_parameter",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_filter(args: Mapping[str, str]) -> EventFilter:
    """The filter from query-string arguments; BadRequest names a malformed one."""

    def text(name: str) -> str | None:
        return (args.get(name) or "").strip()[:255] or None

    return EventFilter(
        model=text("model"),
        user=text("user"),
        action=text("action"),
        since=time_arg(args, "since"),
        until=time_arg(args, "until"),
    )


def events_page(
    session: Session, where: EventFilter, *, cursor: int | None, limit: int
) -> tuple[list[tuple[AuditEvent, AuditSeal | None]], int | None]:
    """Events newest-first by id, with their seal if sealed, and the next page's cursor."""
    query = select(AuditEvent, AuditSeal).outerjoin(AuditSeal, AuditSeal.event_id == AuditEvent.id)
    if cursor is not None:
        query = query.where(AuditEvent.id < cursor)
    query = where.apply(query).order_by(AuditEvent.id.desc()).limit(limit + 1)
    rows = [(event, seal) for event, seal in session.execute(query).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1][0].id if more and rows else None)


def sealed_query(where: EventFilter) -> Select[Any]:
    """Sealed events matching the filter, in seq order, as verify.stream_sealed reads them."""
    columns = [getattr(AuditEvent, name) for name in CHAINED_FIELDS]
    query = select(AuditSeal.seq, AuditSeal.hash, *columns).join(
        AuditEvent, AuditEvent.id == AuditSeal.event_id
    )
    return where.apply(query).order_by(AuditSeal.seq)


def export_jsonl(session: Session, where: EventFilter) -> Iterator[str]:
    """The sealed events matching the filter, one JSONL line each (for reading; only an
    unfiltered `distserver audit export` carries the checkpoints that verify offline)."""
    for seq, event, hash_hex in stream_sealed(session, sealed_query(where)):
        yield export_line(seq, event, hash_hex) + "\n"


def export_csv(session: Session, where: EventFilter) -> Iterator[str]:
    """The same as CSV, written as the CLI writes it (verify.csv_rows)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    for row in csv_rows(stream_sealed(session, sealed_query(where))):
        writer.writerow(row)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@dataclass(frozen=True)
class DailyCount:
    day: date
    key: str
    count: int


def downloads_per_day(
    session: Session,
    by: str,
    *,
    days: int = 30,
    now: datetime | None = None,
    where: EventFilter | None = None,
) -> list[DailyCount]:
    """Links issued per UTC day over the last `days` days, grouped by `tier` or `model`,
    counted in one GROUP BY query."""
    column = {"tier": AuditEvent.tier, "model": AuditEvent.model}[by]
    now = now or datetime.now(UTC)
    start = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
    day = func.date(AuditEvent.occurred_at)
    if session.get_bind().dialect.name == "postgresql":
        day = func.date(func.timezone("UTC", AuditEvent.occurred_at))
    query = select(day, column, func.count()).where(
        AuditEvent.tag == DOWNLOAD_TAG, AuditEvent.occurred_at >= start
    )
    if where is not None:
        query = where.apply(query)
    rows = session.execute(query.group_by(day, column).order_by(day, column)).all()
    return [
        DailyCount(d if isinstance(d, date) else date.fromisoformat(str(d)[:10]), k or "—", n)
        for d, k, n in rows
    ]
