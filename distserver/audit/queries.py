"""Reading the stored audit log: the filters shared by GET /api/v1/audit/events, the staff
audit page and `distserver audit export`; one page of events with a cursor; the sealed
events streamed in seq order (for verification and the exports) and the checkpoints;
downloads per day aggregated in SQL.

Everything that streams uses a server-side cursor on PostgreSQL (`yield_per` batches
elsewhere), so memory stays flat whatever the size of the log."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from distserver.audit.chain import CHAINED_FIELDS
from distserver.audit.checkpoints import Checkpoint, format_utc
from distserver.audit.export import csv_rows, csv_writer, export_line, export_lines
from distserver.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from distserver.audit.tags import EventTag
from distserver.errors import BadRequest, Forbidden
from distserver.identity import Principal, require_signed_in
from distserver.inputs import int_arg  # noqa: F401  (the strict parser, used by the audit views)
from distserver.paging import PAGE_SIZE, AnySelect, Keyset, Page, keyset_page

AUDIT_ROLES = frozenset({"auditor", "admin"})
YIELD_PER = 5000
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

    def apply(self, query: AnySelect) -> AnySelect:
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

    @property
    def empty(self) -> bool:
        """True when the filter lets every event through."""
        return self == EventFilter()

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
    session: Session, where: EventFilter, keyset: Keyset, *, limit: int = PAGE_SIZE
) -> Page[tuple[AuditEvent, AuditSeal | None]]:
    """Events newest-first by id, with their seal if sealed, one keyset page
    (distserver.paging) in one statement."""
    query = select(AuditEvent, AuditSeal).outerjoin(AuditSeal, AuditSeal.event_id == AuditEvent.id)
    page = keyset_page(
        session, where.apply(query), AuditEvent.id, keyset, lambda row: row[0].id, limit
    )
    return Page([(event, seal) for event, seal in page.rows], page.older, page.newer)


def sealed_query(where: EventFilter | None = None) -> Select[Any]:
    """(seq, hash, chained fields...) of the sealed events matching the filter (all of them
    without one), in seq order, as `stream_sealed` reads them."""
    columns = [getattr(AuditEvent, name) for name in CHAINED_FIELDS]
    query = select(AuditSeal.seq, AuditSeal.hash, *columns).join(
        AuditEvent, AuditEvent.id == AuditSeal.event_id
    )
    if where is not None:
        query = where.apply(query)
    return query.order_by(AuditSeal.seq)


def stream_sealed(
    session: Session, query: Select[Any] | None = None
) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(seq, chained fields, hash hex) of every sealed event (or those `query`, a
    `sealed_query`, selects), in seq order."""
    fields = CHAINED_FIELDS
    for row in _stream(session, sealed_query() if query is None else query):
        yield row[0], dict(zip(fields, row[2:], strict=True)), row[1]


def _stream(session: Session, query: Select[Any]) -> Iterator[Any]:
    """Rows of a Core query in batches: a server-side cursor on PostgreSQL."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        yield from _stream_postgres(connection, query)
        return
    options = {"stream_results": True, "yield_per": YIELD_PER}
    # The Core connection, not session.execute: the ORM's per-row work halves the speed.
    result = connection.execute(query.execution_options(**options))
    try:
        yield from result
    finally:
        result.close()


def _stream_postgres(connection: Any, query: Select[Any]) -> Iterator[Any]:
    # psycopg's own named cursor: rows as plain tuples, timestamps already timezone-aware,
    # no per-row SQLAlchemy processing (verify is bound by per-row Python work).
    sql = query.compile(dialect=connection.dialect)
    raw = connection.connection.driver_connection
    with raw.cursor(name=f"audit_stream_{uuid.uuid4().hex[:12]}") as cursor:
        cursor.itersize = YIELD_PER
        cursor.execute(str(sql), sql.params)
        yield from cursor


def checkpoint_from_row(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(row.seq, row.head_hash, format_utc(row.created_at), row.key_id, row.signature)


def checkpoints(session: Session, *, after: int = -1, limit: int | None = None) -> list[Checkpoint]:
    """Stored checkpoints with seq > `after`, in seq order (one per sealing batch, so few)."""
    query = select(AuditCheckpoint).where(AuditCheckpoint.seq > after).order_by(AuditCheckpoint.seq)
    if limit is not None:
        query = query.limit(limit)
    return [checkpoint_from_row(row) for row in session.scalars(query)]


def export_jsonl(
    session: Session, where: EventFilter, *, with_checkpoints: bool = False
) -> Iterator[str]:
    """The sealed events matching the filter, one JSONL line each. `with_checkpoints` (only
    for an empty filter) places every checkpoint after the event of its seq: such a file
    verifies offline (`distserver audit verify --export`); any other is for reading."""
    if with_checkpoints:
        if not where.empty:
            raise ValueError("a filtered export cannot carry the checkpoints")
        lines = export_lines(stream_sealed(session), checkpoints(session))
    else:
        lines = (export_line(*row) for row in stream_sealed(session, sealed_query(where)))
    for line in lines:
        yield line + "\n"


def export_csv(session: Session, where: EventFilter) -> Iterator[str]:
    """The sealed events matching the filter as CSV (`export.csv_rows`), in chunks of about
    64 kB."""
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


def window_start(now: datetime, days: int) -> datetime:
    """Midnight UTC of the first of the `days` UTC days that end with `now`'s day: the
    window of every download count (the charts, the statistics, the Hugging Face door's
    `downloads`), so that they agree."""
    return datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)


def utc_day(session: Session) -> Any:
    """An event's UTC calendar day, as SQL (PostgreSQL's date() follows the session's
    time zone, hence the explicit conversion there)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", AuditEvent.occurred_at))
    return func.date(AuditEvent.occurred_at)


def as_date(value: Any) -> date:
    """A day column's value (a date on PostgreSQL, text on SQLite) as a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


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
    day = utc_day(session)
    query = select(day, column, func.count()).where(
        AuditEvent.tag == DOWNLOAD_TAG, AuditEvent.occurred_at >= window_start(now, days)
    )
    if where is not None:
        query = where.apply(query)
    rows = session.execute(query.group_by(day, column).order_by(day, column)).all()
    return [DailyCount(as_date(d), k or "—", n) for d, k, n in rows]
