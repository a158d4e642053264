"""Per-model download statistics for the model's staff: links issued per UTC day by
tier and by door, unique recipients, and the most fetched files.

Every figure is counted from the audit log's `download:link:issued` events, which
both the ORM path and the fast path write (one event per link handed out, whichever
door), so the statistics and the log agree by construction; the Hugging Face door's
`downloads` field (downloads.counts) is the same count over the same window. One
statement: the window's issued links found once on the (model, tag, occurred_at)
index, then grouped four ways."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from distserver.audit.models import AuditEvent
from distserver.audit.queries import DOWNLOAD_TAG, DailyCount, as_date, utc_day, window_start

DEFAULT_DAYS, MAX_DAYS = 30, 366
TOP_FILES = 10
# What each door is called on the page; an event written before doors were recorded
# has none.
DOOR_TITLES = {
    "api": "native API",
    "hf": "Hugging Face",
    "web": "web page",
    "dl": "reusable /dl/ link",
    "unknown": "unrecorded",
}


@dataclass(frozen=True)
class FileCount:
    path: str
    downloads: int


@dataclass(frozen=True)
class ModelStatistics:
    ref: str
    days: int
    first_day: date
    last_day: date
    total: int
    by_tier: list[DailyCount]  # (day, tier, links), days with none left out
    by_door: list[DailyCount]  # (day, door, links)
    recipients: int  # distinct signed-in users who were handed a link
    anonymous: int  # links handed to callers without an account (public tiers)
    top_files: list[FileCount]


def issued_links(ref: str, since: datetime) -> list[ColumnElement[bool]]:
    """The WHERE clause of every download count: links issued for `ref` since `since`."""
    return [
        AuditEvent.model == ref,
        AuditEvent.tag == DOWNLOAD_TAG,
        AuditEvent.occurred_at >= since,
    ]


def _door(session: Session) -> Any:
    # The door is in the event's canonical JSON `data` (downloads.records.issue_data).
    if session.get_bind().dialect.name == "postgresql":
        # Imported here, as the engine imports its dialect: PostgreSQL's is a twentieth
        # of a second of a SQLite process's start-up.
        from sqlalchemy.dialects.postgresql import JSON

        door = cast(AuditEvent.data, JSON)["door"].astext
    else:
        door = func.json_extract(AuditEvent.data, "$.door")
    return func.coalesce(door, "unknown")


def _statistics_query(session: Session, where: list[ColumnElement[bool]]) -> Any:
    """One statement (the staff page has a query budget) that reads the model's issued
    links once (a CTE; its columns only) and aggregates them four ways, each a row shape
    (kind, day, key, door, count): links per (day, tier, door); distinct signed-in
    recipients; links to anonymous callers; the top files."""
    issued = (
        select(
            cast(utc_day(session), String).label("day"),
            AuditEvent.tier.label("tier"),
            _door(session).label("door"),
            AuditEvent.actor_id.label("actor_id"),
            AuditEvent.path.label("path"),
        )
        .where(*where)
        .cte("issued")
    )
    nothing = null()
    files = (
        select(issued.c.path, func.count().label("n"))
        .group_by(issued.c.path)
        .order_by(func.count().desc(), issued.c.path)
        .limit(TOP_FILES)
        .subquery()
    )
    return union_all(
        select(
            literal_column("'day'"), issued.c.day, issued.c.tier, issued.c.door, func.count()
        ).group_by(issued.c.day, issued.c.tier, issued.c.door),
        select(
            literal_column("'recipients'"),
            nothing,
            nothing,
            nothing,
            func.count(issued.c.actor_id.distinct()),
        ),
        select(literal_column("'anonymous'"), nothing, nothing, nothing, func.count()).where(
            issued.c.actor_id.is_(None)
        ),
        select(literal_column("'file'"), nothing, files.c.path, nothing, files.c.n),
    )


def model_statistics(
    session: Session, ref: str, *, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> ModelStatistics:
    """The statistics of model `ref` over the `days` UTC days ending today."""
    now = now or datetime.now(UTC)
    rows = session.execute(_statistics_query(session, issued_links(ref, window_start(now, days))))
    tiers: dict[tuple[date, str], int] = defaultdict(int)
    doors: dict[tuple[date, str], int] = defaultdict(int)
    figures = {"recipients": 0, "anonymous": 0}
    files: list[FileCount] = []
    for kind, raw_day, key, door, count in rows:
        if kind == "day":
            tiers[as_date(raw_day), key or "—"] += count
            doors[as_date(raw_day), door] += count
        elif kind == "file":
            files.append(FileCount(key or "", int(count)))
        else:
            figures[kind] = int(count)
    return ModelStatistics(
        ref=ref,
        days=days,
        first_day=window_start(now, days).date(),
        last_day=now.date(),
        total=sum(tiers.values()),
        by_tier=[DailyCount(d, k, n) for (d, k), n in sorted(tiers.items())],
        by_door=[DailyCount(d, k, n) for (d, k), n in sorted(doors.items())],
        recipients=figures["recipients"],
        anonymous=figures["anonymous"],
        top_files=sorted(files, key=lambda f: (-f.downloads, f.path)),
    )
