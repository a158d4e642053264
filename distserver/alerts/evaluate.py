"""Evaluation: run the rules over sealed audit events not yet evaluated, off the
request path (the `alerts.evaluate` job, or `distserver alerts evaluate`).

- Incremental: a cursor row holds the last sealed sequence number evaluated; a run
  with nothing new sealed reads nothing. Otherwise it reads from the start of the
  UTC day of the first new event (so every window that holds a new event is seen
  whole) up to the chain head, then moves the cursor.
- Idempotent: an alert is unique on (rule, principal, window key) and inserted with
  ON CONFLICT DO NOTHING, so events read twice raise nothing new.
- Safe on several hosts: one run at a time, under a transaction-level advisory lock
  on PostgreSQL (SQLite's write lock elsewhere); a second run waits, then finds the
  cursor moved.
- Only sealed events are read, so every alert's evidence is a sequence number that an
  export and the public key can check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from distserver.alerts import detectors as d
from distserver.alerts.models import Alert, AlertCursor
from distserver.alerts.rules import AlertRules
from distserver.alerts.service import raised
from distserver.audit.models import AuditEvent, AuditSeal
from distserver.catalog.models import File, Model, Revision
from distserver.db import utcnow

ADVISORY_LOCK_KEY = int.from_bytes(b"dsalerts", "big", signed=True)
EVENTS_CURSOR = "events"
STREAM_BATCH = 20_000


@dataclass(frozen=True)
class EvaluationReport:
    events: int
    raised: list[int]
    head: int

    @property
    def message(self) -> str:
        return (
            f"evaluated {self.events} events up to seq {self.head}; "
            f"raised {len(self.raised)} alerts"
        )


def lock(session: Session) -> None:
    """Serialise evaluators for the rest of this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(text("pg_advisory_xact_lock(:k)")), {"k": ADVISORY_LOCK_KEY})
    else:
        session.execute(text("UPDATE alert_cursors SET name = name WHERE name = ''"))


def cursor(session: Session, name: str) -> AlertCursor:
    row = session.get(AlertCursor, name, populate_existing=True)
    if row is None:
        row = AlertCursor(name=name, last_seen=-1, updated_at=utcnow())
        session.add(row)
        session.flush()
    return row


def _files_of(session: Session):  # type: ignore[no-untyped-def]
    @lru_cache(maxsize=1024)
    def files_of(model_ref: str, commit: str) -> frozenset[str]:
        namespace, _, name = model_ref.partition("/")
        query = (
            select(File.path)
            .join(Revision, Revision.id == File.revision_id)
            .join(Model, Model.id == Revision.model_id)
            .where(Model.namespace == namespace, Model.name == name, Revision.commit == commit)
        )
        return frozenset(session.scalars(query))

    return files_of


def stream(session: Session, since: datetime, head: int) -> Iterable[d.Event]:
    query = (
        select(
            AuditSeal.seq,
            AuditEvent.occurred_at,
            AuditEvent.tag,
            AuditEvent.actor_id,
            AuditEvent.address,
            AuditEvent.model,
            AuditEvent.revision,
            AuditEvent.path,
            AuditEvent.reason,
        )
        .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .where(
            AuditEvent.tag.in_(d.TAGS),
            AuditEvent.occurred_at >= since,
            AuditSeal.seq <= head,
        )
        .order_by(AuditSeal.seq)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for row in session.execute(query):
        yield d.Event(*row)


def store(session: Session, findings: Iterable[d.Finding], rules: AlertRules) -> list[int]:
    """Insert each finding not already an alert; the new ones are raised. Returns
    the new alerts' ids."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    new: list[int] = []
    now = utcnow()
    for f in findings:
        values = {
            "rule": f.rule,
            "principal": f.principal[:128],
            "window_key": f.window_key[:64],
            "raised_at": now,
            "user_id": f.user_id,
            "model": f.model,
            "summary": f.summary[:500],
            "evidence": json.dumps(f.evidence),
            "details": json.dumps(f.details, sort_keys=True, default=str),
            "state": "open",
        }
        statement = (
            insert(Alert)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["rule", "principal", "window_key"])
            .returning(Alert.id)
        )
        alert_id = session.scalar(statement)
        if alert_id is None:
            continue
        alert = session.get(Alert, alert_id)
        assert alert is not None
        raised(session, alert, rules)
        new.append(alert_id)
    return new


def evaluate(session: Session, rules: AlertRules) -> EvaluationReport:
    """One evaluation run, in one committed transaction."""
    session.rollback()  # a fresh transaction, so the lock is taken first
    lock(session)
    events_cursor = cursor(session, EVENTS_CURSOR)
    head = session.scalar(select(func.max(AuditSeal.seq)))
    count, new = 0, list[int]()
    if head is not None and head > events_cursor.last_seen:
        count, new = _evaluate_events(session, rules, events_cursor.last_seen, head)
        events_cursor.last_seen = head
        events_cursor.updated_at = utcnow()
    from distserver.alerts.fetches import evaluate_fetches

    new += evaluate_fetches(session, rules)
    session.commit()
    return EvaluationReport(count, new, events_cursor.last_seen)


def _evaluate_events(
    session: Session, rules: AlertRules, last_seen: int, head: int
) -> tuple[int, list[int]]:
    first_new = session.scalar(
        select(func.min(AuditEvent.occurred_at))
        .join(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .where(AuditSeal.seq > last_seen, AuditSeal.seq <= head)
    )
    assert first_new is not None
    # From the start of that UTC day: every window divides a day, so each window that
    # holds a new event is read whole.
    since = datetime.combine(first_new.date(), datetime.min.time(), first_new.tzinfo)
    found = d.detectors(rules, _files_of(session))
    count = 0
    for event in stream(session, since, head):
        count += 1
        for detector in found:
            detector.feed(event)
    new = store(session, (f for detector in found for f in detector.findings()), rules)
    return count, new
