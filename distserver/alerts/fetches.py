"""What was really fetched: the storage's own access records, matched to the links
the server handed out.

- S3 server access logs, in AWS's documented space-delimited format (one record a
  line: bucket owner, bucket, [time], remote IP, requester, request ID, operation,
  key, "Request-URI", status, error code, bytes sent, object size, ...). A presigned
  URL asks S3 for a `response-cache-control` header that carries the link id
  (`x-link-id=<id>`), so the logged Request-URI names its link.
- The local backend's /files/ door records every serving as a `download:file:served`
  audit event with the link id its token carries; those events feed the same table.

Each fetch becomes one `link_fetches` row (unique per source and request id, so a
log read twice counts once). A link fetched from an address none of its requests
came from, or more than `max_fetches` times, raises the shared-link alert.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from distserver.alerts.detectors import MAX_EVIDENCE, Finding
from distserver.alerts.models import LinkFetch
from distserver.alerts.rules import AlertRules
from distserver.audit.models import AuditEvent, AuditSeal
from distserver.audit.tags import EventTag
from distserver.downloads.models import DownloadLink

LINK_PARAM = "response-cache-control"
LINK_DIRECTIVE = re.compile(r"x-link-id=([A-Za-z0-9_-]{1,64})")
_FIELD = re.compile(r'"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\S+')
FETCH_OPERATIONS = frozenset({"REST.GET.OBJECT", "WEBSITE.GET.OBJECT"})


@dataclass(frozen=True)
class Fetch:
    source: str
    request_id: str
    fetched_at: datetime
    address: str | None
    key: str | None
    status: int | None
    bytes_sent: int | None
    link_id: str | None


def _dash(value: str) -> str | None:
    return None if value == "-" else value


def _number(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def link_id_of(request_uri: str) -> str | None:
    """The link id in a logged Request-URI ("GET /bucket/key?... HTTP/1.1")."""
    parts = request_uri.split(" ")
    target = parts[1] if len(parts) >= 2 else request_uri
    for value in parse_qs(urlsplit(target).query).get(LINK_PARAM, []):
        match = LINK_DIRECTIVE.search(value)
        if match:
            return match.group(1)
    return None


def parse_s3_line(line: str) -> Fetch | None:
    """One S3 server access log record as a fetch; None for a record that is not an
    object GET (listings, HEADs, the logging service's own writes) or is malformed."""
    fields = _FIELD.findall(line.strip())
    if len(fields) < 12:
        return None
    time_text = fields[2].strip("[]")
    try:
        when = datetime.strptime(time_text, "%d/%b/%Y:%H:%M:%S %z")
    except ValueError:
        return None
    operation = fields[6]
    if operation not in FETCH_OPERATIONS:
        return None
    request_uri = fields[8].strip('"')
    key = _dash(fields[7])
    return Fetch(
        source="s3",
        request_id=fields[5],
        fetched_at=when,
        address=_dash(fields[3]),
        key=unquote(key) if key else None,
        status=_number(fields[9]),
        bytes_sent=_number(fields[11]) or 0,
        link_id=link_id_of(request_uri),
    )


def _insert(session: Session):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def record_fetches(session: Session, fetches: Iterable[Fetch]) -> int:
    """Add fetches not recorded yet (the caller commits); returns how many were new."""
    insert = _insert(session)
    added = 0
    for f in fetches:
        statement = (
            insert(LinkFetch)
            .values(**f.__dict__)
            .on_conflict_do_nothing(index_elements=["source", "request_id"])
            .returning(LinkFetch.id)
        )
        added += session.scalar(statement) is not None
    return added


def read_s3_log(session: Session, lines: Iterable[str]) -> int:
    """Record the object fetches of S3 server access log lines; commits."""
    added = record_fetches(session, filter(None, map(parse_s3_line, lines)))
    session.commit()
    return added


def ingest_local(session: Session) -> int:
    """Turn sealed `download:file:served` events not yet read into fetches (the
    caller commits)."""
    from distserver.alerts.evaluate import cursor

    seen = cursor(session, "files")
    rows = session.execute(
        select(AuditSeal.seq, AuditEvent.occurred_at, AuditEvent.address, AuditEvent.link_id,
               AuditEvent.data)
        .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .where(AuditSeal.seq > seen.last_seen, AuditEvent.tag == str(EventTag.FILE_SERVED))
        .order_by(AuditSeal.seq)
    ).all()  # fmt: skip
    fetches = [
        Fetch("local", f"seq:{seq}", when, address, json.loads(data).get("key"), 200, None, link)
        for seq, when, address, link, data in rows
    ]
    if rows:
        seen.last_seen = rows[-1].seq
    return record_fetches(session, fetches)


def _requests_of(session: Session, link_ids: list[str]) -> dict[str, list[Any]]:
    """Each link's issued and used events: (seq, address, actor_id, model)."""
    found: dict[str, list[Any]] = defaultdict(list)
    tags = (str(EventTag.LINK_ISSUED), str(EventTag.LINK_USED))
    for chunk in range(0, len(link_ids), 500):
        rows = session.execute(
            select(AuditEvent.link_id, AuditSeal.seq, AuditEvent.address,
                   AuditEvent.actor_id, AuditEvent.model)
            .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
            .where(AuditEvent.link_id.in_(link_ids[chunk : chunk + 500]),
                   AuditEvent.tag.in_(tags))
            .order_by(AuditSeal.seq)
        )  # fmt: skip
        for link_id, *rest in rows:
            if link_id is not None:
                found[link_id].append(rest)
    return found


def evaluate_fetches(session: Session, rules: AlertRules) -> list[int]:
    """Read new local fetches, then raise the shared-link rule over links with new
    fetches (in the caller's transaction); returns new alert ids."""
    from distserver.alerts.evaluate import cursor, store

    ingest_local(session)
    seen = cursor(session, "fetches")
    last = session.scalar(select(func.max(LinkFetch.id))) or 0
    rule = rules.shared_link
    if last <= seen.last_seen:
        return []
    touched = [
        link_id
        for link_id in session.scalars(
            select(LinkFetch.link_id)
            .where(LinkFetch.id > seen.last_seen, LinkFetch.link_id.is_not(None))
            .distinct()
        )
        if link_id is not None
    ]
    seen.last_seen = last
    if not rule.enabled or not touched:
        return []
    requests = _requests_of(session, touched)
    findings = []
    for link_id in touched:
        asked = requests.get(link_id)
        if not asked:
            continue  # a link the log does not know (sealed later, or not ours)
        fetches = list(
            session.scalars(
                select(LinkFetch).where(LinkFetch.link_id == link_id).order_by(LinkFetch.id)
            )
        )
        evidence = [seq for seq, *_ in asked][:MAX_EVIDENCE]
        _, _, user_id, model = asked[0]
        homes = {address for _, address, _, _ in asked}
        elsewhere = sorted({f.address for f in fetches if f.address and f.address not in homes})
        details = {
            "fetch_ids": [f.id for f in fetches][:MAX_EVIDENCE],
            "requested_from": sorted(a for a in homes if a),
            "fetched_from": sorted({f.address for f in fetches if f.address}),
            "bytes": sum(f.bytes_sent or 0 for f in fetches),
        }
        common = {"user_id": user_id, "model": model, "details": details}
        principal = f"link:{link_id}"
        if elsewhere:
            findings.append(Finding(
                rule.name, principal, "elsewhere",
                f"link {link_id} was fetched from {', '.join(elsewhere)}, not where it "
                "was requested", evidence, **common))  # fmt: skip
        if len(fetches) > rule.max_fetches:
            findings.append(Finding(
                rule.name, principal, "count",
                f"link {link_id} was fetched {len(fetches)} times (limit {rule.max_fetches})",
                evidence, **common))  # fmt: skip
    return store(session, findings, rules)


@dataclass(frozen=True)
class LinkUse:
    link_id: str
    user_id: int | None
    path: str
    fetches: int
    bytes_sent: int
    addresses: tuple[str, ...]


def fetch_report(session: Session, since: datetime) -> tuple[list[LinkUse], list[LinkFetch]]:
    """Every link created since `since` with what was fetched through it (none: never
    fetched), and the fetches that match no link."""
    links = session.scalars(
        select(DownloadLink)
        .where(DownloadLink.created_at >= since)
        .order_by(DownloadLink.created_at)
    ).all()
    by_link: dict[str, list[LinkFetch]] = defaultdict(list)
    ids = [link.id for link in links]
    for chunk in range(0, len(ids), 500):
        query = select(LinkFetch).where(LinkFetch.link_id.in_(ids[chunk : chunk + 500]))
        for f in session.scalars(query):
            by_link[f.link_id or ""].append(f)
    uses = [
        LinkUse(
            link.id, link.user_id, link.path, len(by_link[link.id]),
            sum(f.bytes_sent or 0 for f in by_link[link.id]),
            tuple(sorted({f.address for f in by_link[link.id] if f.address})),
        )
        for link in links
    ]  # fmt: skip
    known = select(DownloadLink.id).where(DownloadLink.id == LinkFetch.link_id).exists()
    unmatched = session.scalars(
        select(LinkFetch)
        .where(LinkFetch.fetched_at >= since, (LinkFetch.link_id.is_(None)) | ~known)
        .order_by(LinkFetch.id)
    ).all()
    return uses, list(unmatched)
