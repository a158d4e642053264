"""Reading the sealed log back out of the database: verification, export, receipts.

Everything streams (a server-side cursor on PostgreSQL, `yield_per` batches), so memory
stays flat whatever the size of the log.
"""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from distserver.access.reports import spreadsheet_cell
from distserver.audit.chain import CHAINED_FIELDS
from distserver.audit.checkpoints import Checkpoint, format_utc
from distserver.audit.export import export_line, export_lines, read_export
from distserver.audit.fast_verify import verify_stored
from distserver.audit.keys import sign_receipt
from distserver.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from distserver.audit.tags import EventTag
from distserver.audit.verification import VerifyResult, require_signed_head, verify_chain

YIELD_PER = 5000
_EVENT_COLUMNS = [getattr(AuditEvent, name) for name in CHAINED_FIELDS]


def _sealed_query() -> Select[Any]:
    return (
        select(AuditSeal.seq, AuditSeal.hash, *_EVENT_COLUMNS)
        .join(AuditEvent, AuditEvent.id == AuditSeal.event_id)
        .order_by(AuditSeal.seq)
    )


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


def stream_sealed(
    session: Session, query: Select[Any] | None = None
) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(seq, chained fields, hash hex) of every sealed event, in seq order."""
    fields = CHAINED_FIELDS
    for row in _stream(session, _sealed_query() if query is None else query):
        yield row[0], dict(zip(fields, row[2:], strict=True)), row[1]


def checkpoint_from_row(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(row.seq, row.head_hash, format_utc(row.created_at), row.key_id, row.signature)


def checkpoints(session: Session, *, after: int = -1, limit: int | None = None) -> list[Checkpoint]:
    """Stored checkpoints with seq > `after`, in seq order (one per sealing batch, so few)."""
    query = select(AuditCheckpoint).where(AuditCheckpoint.seq > after).order_by(AuditCheckpoint.seq)
    if limit is not None:
        query = query.limit(limit)
    return [checkpoint_from_row(row) for row in session.scalars(query)]


def verify_database(
    session: Session, public_key: Ed25519PublicKey, *, deep: bool = False
) -> VerifyResult:
    """Check the whole chain in the database and every checkpoint.

    On PostgreSQL it first tries the fast check (distserver.audit.fast_verify: the stored
    canonical bytes hashed with hashlib, and one set-based comparison of those bytes with
    the columns). If that finds anything at all, or with `deep`, or on SQLite, every event
    is re-encoded from its columns in Python (`verify_chain`), which names the first bad
    event."""
    try:
        cps = checkpoints(session)
        if not deep:
            fast = verify_stored(session, public_key, cps)
            if fast is not None:
                return fast
            session.rollback()
        return verify_chain(stream_sealed(session), cps, public_key)
    finally:
        session.rollback()


def verify_export(lines: Iterable[str | bytes], public_key: Ed25519PublicKey) -> VerifyResult:
    """Verify a JSONL export (as `write_jsonl` without filters writes it) offline. Besides
    the chain and every checkpoint in it, a signed checkpoint must cover its last event:
    the events after the last one are not proved, and are named as the unsigned tail."""
    rows, cps = read_export(lines)
    return require_signed_head(verify_chain(rows, cps, public_key))


def _filtered(
    session: Session, since: datetime | None, model: str | None, user: str | None
) -> Select[Any]:
    query = _sealed_query()
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if model is not None:
        query = query.where(AuditEvent.model == model)
    if user is not None:
        query = query.where(AuditEvent.actor == user)
    return query


def write_jsonl(
    session: Session,
    out: IO[str],
    *,
    since: datetime | None = None,
    model: str | None = None,
    user: str | None = None,
) -> int:
    """Stream sealed events as JSONL. Without filters the checkpoints are interleaved and the
    file verifies offline (`audit verify --export`); a filtered export is for reading only.
    Returns the number of events written."""
    count = 0
    if since is None and model is None and user is None:
        lines = export_lines(stream_sealed(session), checkpoints(session))
    else:
        rows = stream_sealed(session, _filtered(session, since, model, user))
        lines = (export_line(*row) for row in rows)
    for line in lines:
        out.write(line + "\n")
        count += not line.startswith('{"checkpoint"')
    session.rollback()
    return count


def csv_rows(rows: Iterable[tuple[int, dict[str, Any], str]]) -> Iterator[list[Any]]:
    """The audit CSV: a header, then seq, hash and the chained fields of each sealed event
    (times in UTC). Cells go through the access report's `spreadsheet_cell`, so a value an
    anonymous caller chose (user agent, path) cannot run as a formula in a spreadsheet;
    the CSV is for reading, the JSONL export is the one that verifies."""
    yield ["seq", "hash", *CHAINED_FIELDS]
    for seq, event, hash_hex in rows:
        values = [event[name] for name in CHAINED_FIELDS]
        values[1] = format_utc(values[1])
        yield [seq, hash_hex, *(spreadsheet_cell(v) for v in values)]


def csv_writer(out: IO[str]) -> Any:
    """RFC 4180 line ends: with "\r\n" as terminator the csv module also quotes a cell
    that holds a lone carriage return, which a spreadsheet would read as a new row."""
    return csv.writer(out, lineterminator="\r\n")


def write_csv(
    session: Session,
    out: IO[str],
    *,
    since: datetime | None = None,
    model: str | None = None,
    user: str | None = None,
) -> int:
    """Stream sealed events as CSV (`csv_rows`). Returns the number of events written."""
    writer = csv_writer(out)
    count = -1
    for row in csv_rows(stream_sealed(session, _filtered(session, since, model, user))):
        writer.writerow(row)
        count += 1
    session.rollback()
    return count


def receipt(session: Session, link_id: str, key: Ed25519PrivateKey) -> dict[str, Any] | None:
    """The signed receipt of an issued link, or None if no issue event names it.

    The receipt holds the event's chained fields, its seq, hash and the previous hash (so
    `link_hash(prev_hash, seq, canonical_bytes(event)) == hash` can be checked), and the
    first checkpoint at or after it, if it is sealed yet."""
    event = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.link_id == link_id, AuditEvent.tag == str(EventTag.LINK_ISSUED))
        .order_by(AuditEvent.id)
        .limit(1)
    ).first()
    if event is None:
        return None
    seal = session.scalars(select(AuditSeal).where(AuditSeal.event_id == event.id)).first()
    prev_hash = checkpoint = None
    if seal is not None:
        prev = session.scalars(select(AuditSeal.hash).where(AuditSeal.seq == seal.seq - 1)).first()
        prev_hash = prev or "0" * 64
        found = checkpoints_from(session, seal.seq)
        checkpoint = found.to_dict() if found else None
    data = json.loads(event.data or "{}")
    body = {
        "link_id": link_id,
        "event_id": event.id,
        "sha256": event.sha256,
        "tier": event.tier,
        "agreement_version": data.get("agreement_version"),
        "event": {
            name: format_utc(value) if name == "occurred_at" else value
            for name, value in ((n, getattr(event, n)) for n in CHAINED_FIELDS)
        },
        "seq": seal.seq if seal else None,
        "hash": seal.hash if seal else None,
        "prev_hash": prev_hash,
        "checkpoint": checkpoint,
    }
    return sign_receipt(key, body)


def checkpoints_from(session: Session, seq: int) -> Checkpoint | None:
    row = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.seq >= seq)
        .order_by(AuditCheckpoint.seq)
        .limit(1)
    ).first()
    return checkpoint_from_row(row) if row else None
