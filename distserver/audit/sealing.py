"""Sealing: give committed, unsealed audit events their place in the hash chain.

`seal_pending` takes one lock per batch (a PostgreSQL transaction-level advisory lock, or
SQLite's single write lock), reads the chain head, chains the next unsealed events in id
order, writes their `audit_seals` rows (with the canonical bytes that were hashed, so that
verification needs only hashlib) and one signed checkpoint, and commits. Event rows
are never touched, so inserts never wait for sealing; two sealers at once take turns and
build one chain. An event that commits late (a lower id after higher ones were sealed)
is sealed in the next batch with a later seq: the chain order is seq, not id.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import exists, insert, select, text
from sqlalchemy.orm import Session

from distserver.audit.chain import GENESIS, event_fields, seal
from distserver.audit.checkpoints import sign_checkpoint
from distserver.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from distserver.db import utcnow

log = logging.getLogger("distserver.audit")

# pg_advisory_xact_lock key: the bytes "dsaudit1" as a signed 64-bit integer.
ADVISORY_LOCK_KEY = int.from_bytes(b"dsaudit1", "big", signed=True)
DEFAULT_BATCH = 5000


@dataclass(frozen=True)
class SealReport:
    sealed: int
    checkpoints: int
    head_seq: int | None
    head_hash: str | None

    @property
    def message(self) -> str:
        if self.head_seq is None:
            return "nothing to seal: the log is empty"
        return (
            f"sealed {self.sealed} events in {self.checkpoints} checkpoints; "
            f"head is seq {self.head_seq} ({self.head_hash})"
        )


def _lock(session: Session) -> None:
    """Serialise sealers for the rest of this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(text("pg_advisory_xact_lock(:k)")), {"k": ADVISORY_LOCK_KEY})
    else:
        # A write that changes nothing still takes SQLite's write lock (BEGIN IMMEDIATE's
        # effect) until commit; as the first statement it also starts a fresh snapshot.
        session.execute(text("UPDATE audit_checkpoints SET seq = seq WHERE seq < 0"))


def chain_head(session: Session) -> tuple[int, bytes]:
    """(seq of the last sealed event, its hash), or (-1, GENESIS) for an unsealed log."""
    row = session.execute(
        select(AuditSeal.seq, AuditSeal.hash).order_by(AuditSeal.seq.desc()).limit(1)
    ).first()
    return (-1, GENESIS) if row is None else (row.seq, bytes.fromhex(row.hash))


def _unsealed(session: Session, limit: int) -> list[AuditEvent]:
    sealed = exists().where(AuditSeal.event_id == AuditEvent.id)
    query = select(AuditEvent).where(~sealed).order_by(AuditEvent.id).limit(limit)
    return list(session.scalars(query))


def seal_batch(
    session: Session, private_key: Ed25519PrivateKey, *, batch: int = DEFAULT_BATCH
) -> tuple[int, int, str] | None:
    """Seal up to `batch` events and write their checkpoint, in one committed transaction.
    Returns (events sealed, head seq, head hash hex), or None when nothing was pending."""
    try:
        _lock(session)
        head_seq, head = chain_head(session)
        events = _unsealed(session, batch)
        if not events:
            session.rollback()
            return None
        rows = [
            {"seq": s.seq, "event_id": s.event["id"], "hash": s.hash, "canonical": s.canonical}
            for s in seal(map(event_fields, events), start_seq=head_seq + 1, prev_hash=head)
        ]
        session.execute(insert(AuditSeal), rows)
        last = rows[-1]
        cp = sign_checkpoint(private_key, last["seq"], last["hash"], utcnow())
        session.add(
            AuditCheckpoint(
                seq=cp.seq,
                head_hash=cp.head_hash,
                created_at=datetime.fromisoformat(cp.created_at.replace("Z", "+00:00")),
                key_id=cp.key_id,
                signature=cp.signature,
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.expunge_all()  # the batch's rows are not needed again; keep memory flat
    return len(rows), last["seq"], last["hash"]


def seal_pending(
    session: Session,
    private_key: Ed25519PrivateKey,
    *,
    batch: int = DEFAULT_BATCH,
    max_batches: int | None = None,
) -> SealReport:
    """Seal every committed, unsealed event, `batch` at a time, one signed checkpoint per
    batch. Commits as it goes (call it with no pending work in `session`); safe to run in
    several processes or hosts at once."""
    sealed = batches = 0
    while max_batches is None or batches < max_batches:
        done = seal_batch(session, private_key, batch=batch)
        if done is None:
            break
        sealed += done[0]
        batches += 1
    head_seq, head = chain_head(session)
    session.rollback()
    return SealReport(
        sealed, batches, None if head_seq < 0 else head_seq, head.hex() if head_seq >= 0 else None
    )


@dataclass
class SealingThread:
    thread: threading.Thread
    stopping: threading.Event

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)


def start_sealing_thread(app: Flask, interval: float) -> SealingThread:
    """A daemon thread that seals every `interval` seconds (for AUDIT_SEAL_INTERVAL > 0).
    Several hosts may each run one: the lock makes them take turns."""
    from distserver.audit.keys import signing_key
    from distserver.extensions import db

    key = signing_key(app.config)  # fail now, in create_app, rather than in the thread
    stopping = threading.Event()

    def run() -> None:
        while not stopping.is_set():
            try:
                with app.app_context():
                    try:
                        report = seal_pending(db.session, key)
                        if report.sealed:
                            log.info("%s", report.message)
                    finally:
                        db.session.remove()
            except Exception:  # keep sealing after a database outage
                log.exception("audit sealing failed; retrying in %s s", interval)
            stopping.wait(interval)

    thread = threading.Thread(target=run, name="audit-sealer", daemon=True)
    thread.start()
    return SealingThread(thread, stopping)
