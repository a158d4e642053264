"""The database figures a scrape reads: each one indexed query, bounded whatever the
size of the audit log (never a COUNT(*) over audit_events)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session

from distserver.access.models import WebhookDelivery
from distserver.audit.models import AuditEvent, AuditSeal


def oldest_unsealed_at(session: Session, late_window: int) -> datetime | None:
    """When the oldest unsealed audit event occurred, or None if all are sealed.

    The sealer goes in id order, so unsealed events sit above the newest sealed one, save
    an event that committed late with a lower id: the search starts `late_window` ids
    below it. One statement: the newest sealed id comes from audit_seals' unique index,
    the walk from the primary key, and it stops at the first unsealed row."""
    return session.execute(oldest_unsealed_query(late_window)).scalar()


def oldest_unsealed_query(late_window: int) -> Select[datetime]:
    newest_sealed = select(func.coalesce(func.max(AuditSeal.event_id), 0)).scalar_subquery()
    # The bound is repeated on the seals side (redundant for the result) so the planner
    # reads both indexes from it, never either one from its start.
    bound = newest_sealed - late_window
    sealed = exists().where(AuditSeal.event_id == AuditEvent.id, AuditSeal.event_id > bound)
    return (
        select(AuditEvent.occurred_at)
        .where(AuditEvent.id > bound, ~sealed)
        .order_by(AuditEvent.id)
        .limit(1)
    )


def webhook_backlog(session: Session) -> tuple[int, datetime | None]:
    """(deliveries pending, when the oldest of them was created): one query on the
    (status, next_attempt_at) index; the count covers only the pending rows."""
    row = session.execute(
        select(func.count(), func.min(WebhookDelivery.created_at)).where(
            WebhookDelivery.status == "pending"
        )
    ).one()
    return int(row[0]), row[1]
