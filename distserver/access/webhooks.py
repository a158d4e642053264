"""Webhooks: admins subscribe a URL to event tags; each event becomes one delivery
row per subscribed hook, in the caller's transaction, and one `webhooks.deliver` job per
row, enqueued only once that transaction commits (distserver.jobs). The job makes one
attempt; a failure is retried by the job engine with exponential backoff (JOBS_MIN_BACKOFF_MS
doubling up to JOBS_MAX_BACKOFF_MS) until JOBS_MAX_RETRIES + 1 attempts, then the row is
`failed` and the job is dead-lettered. `distserver webhooks deliver` (deliver_due) stays
for operators who run retries from cron instead.

Each delivery is a POST of a JSON body, signed so a receiver can check it came
from this server and is fresh:

    X-Distserver-Timestamp: <unix seconds>
    X-Distserver-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>
    X-Distserver-Event: <event tag>
    X-Distserver-Delivery: <delivery id>

A retry sends the same body with a fresh timestamp and signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver import outbound
from distserver.access.models import Webhook, WebhookDelivery
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, NotFound
from distserver.identity import Principal, require_role

ADMIN = frozenset({"admin"})
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
MAX_ATTEMPTS = 8
RETRY_TIMEOUT = 10.0
DELIVER_JOB = "webhooks.deliver"  # distserver.jobs.tasks.deliver_webhook
# Audit tags, and the alert events (distserver/alerts/service.py WEBHOOK_EVENTS).
KNOWN_EVENTS = frozenset(str(t) for t in EventTag) | {
    "alert.raised",
    "alert.acknowledged",
    "alert.dismissed",
}

# The events that are sent to webhooks today (where `emit` is called); the console's
# picker offers these and "*".
SENT_EVENTS = tuple(
    str(t)
    for t in (
        EventTag.APPLICATION_SUBMITTED,
        EventTag.APPLICATION_WITHDRAWN,
        EventTag.APPLICATION_APPROVED,
        EventTag.APPLICATION_REJECTED,
        EventTag.GRANT_REVOKED,
        EventTag.STAGE_PROMOTED,
        EventTag.STAGE_DEMOTED,
        EventTag.STAGE_HALTED,
        EventTag.STAGE_RESUMED,
    )
)
ALERT_EVENTS = ("alert.raised", "alert.acknowledged", "alert.dismissed")


def subscribed(patterns: list[str], event_tag: str) -> bool:
    """Whether a hook's subscriptions cover `event_tag`: the tag itself, "*", or a
    prefix pattern ending in "*" (e.g. "alert.*")."""
    return any(
        p == event_tag or (p.endswith("*") and event_tag.startswith(p[:-1])) for p in patterns
    )


def _known(pattern: str) -> bool:
    if pattern.endswith("*"):
        return any(e.startswith(pattern[:-1]) for e in KNOWN_EVENTS) or pattern == "*"
    return pattern in KNOWN_EVENTS


def signature(secret: str, timestamp: str, body: str) -> str:
    """The value of X-Distserver-Signature for this timestamp and body."""
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: str, timestamp: str, body: str, header: str, *, max_age: int = 300) -> bool:
    """What a receiver does: a matching signature over a timestamp no older than max_age."""
    try:
        fresh = abs(time.time() - int(timestamp)) <= max_age
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, timestamp, body), header)


def create_webhook(
    session: Session, url: str, events: list[str], actor: Principal
) -> tuple[Webhook, str]:
    """Create a hook; returns it and its secret, which is shown only this once."""
    require_role(actor, ADMIN, "configure webhooks", allow_system=True)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise BadRequest("A webhook URL is an http(s) URL of at most 500 characters.")
    if parts.username or parts.password:
        raise BadRequest("Put no credentials in a webhook URL; deliveries are signed.")
    events = sorted(set(events))
    unknown = [e for e in events if not _known(e)]
    if not events or unknown:
        raise BadRequest(
            f"Unknown event {unknown[0]!r}." if unknown else "Subscribe to at least one event.",
            code="invalid_events",
        )
    secret = secrets.token_urlsafe(32)
    hook = Webhook(url=url, secret=secret, events=" ".join(events), created_by_id=actor.user_id)
    session.add(hook)
    session.flush()
    record(
        session,
        EventTag.WEBHOOK_CREATED,
        actor,
        data={"webhook_id": hook.id, "host": parts.hostname, "events": events},
    )
    session.commit()
    return hook, secret


def list_webhooks(session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).order_by(Webhook.id)))


def get_webhook(session: Session, webhook_id: int) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise NotFound(f"No webhook {webhook_id}.", code="webhook_not_found")
    return hook


def rotate_secret(session: Session, webhook_id: int, actor: Principal) -> tuple[Webhook, str]:
    """Give the hook a new signing secret; returns it, shown only this once. Deliveries
    from now on (retries included) are signed with the new secret."""
    require_role(actor, ADMIN, "configure webhooks", allow_system=True)
    hook = get_webhook(session, webhook_id)
    secret = secrets.token_urlsafe(32)
    hook.secret = secret
    record(
        session,
        EventTag.WEBHOOK_SECRET_ROTATED,
        actor,
        data={"webhook_id": hook.id, "host": urlsplit(hook.url).hostname},
    )
    session.commit()
    return hook, secret


def redeliver(
    session: Session, webhook_id: int, delivery_id: int, actor: Principal
) -> WebhookDelivery:
    """Send a past delivery's event again: a new pending delivery with the same body,
    enqueued once committed; the old row keeps its history."""
    require_role(actor, ADMIN, "configure webhooks", allow_system=True)
    old = session.get(WebhookDelivery, delivery_id)
    if old is None or old.webhook_id != webhook_id:
        raise NotFound(
            f"No delivery {delivery_id} of webhook {webhook_id}.", code="delivery_not_found"
        )
    copy = WebhookDelivery(
        webhook_id=old.webhook_id, event=old.event, body=old.body, next_attempt_at=utcnow()
    )
    session.add(copy)
    session.flush()
    record(
        session,
        EventTag.WEBHOOK_REDELIVERED,
        actor,
        data={"webhook_id": old.webhook_id, "delivery_id": copy.id, "of": old.id},
    )
    from distserver.jobs import enqueue_after_commit

    enqueue_after_commit(DELIVER_JOB, copy.id, session=session)
    session.commit()
    return copy


def deliveries(session: Session, webhook_id: int, limit: int = 100) -> list[WebhookDelivery]:
    if session.get(Webhook, webhook_id) is None:
        raise NotFound("No such webhook.", code="webhook_not_found")
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def emit(session: Session, event_tag: str, payload: dict[str, Any]) -> list[int]:
    """Queue `event_tag` with `payload` for every active hook subscribed to it, in the
    caller's transaction (the caller commits). Each delivery's job is enqueued once that
    transaction commits, and never if it rolls back. Returns the delivery ids."""
    hooks = [
        h
        for h in session.scalars(select(Webhook).where(Webhook.active.is_(True)))
        if subscribed(h.events.split(), str(event_tag))
    ]
    if not hooks:
        return []
    now = utcnow()
    body = json.dumps(
        {"event": str(event_tag), "occurred_at": now.isoformat(), "data": payload},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    rows = [
        WebhookDelivery(webhook_id=h.id, event=str(event_tag), body=body, next_attempt_at=now)
        for h in hooks
    ]
    session.add_all(rows)
    session.flush()
    ids = [r.id for r in rows]
    from distserver.jobs import enqueue_after_commit

    for delivery_id in ids:
        enqueue_after_commit(DELIVER_JOB, delivery_id, session=session)
    return ids


def deliver_due(
    session: Session, now: datetime | None = None, timeout: float = RETRY_TIMEOUT
) -> int:
    """Attempt every pending delivery whose time has come; returns how many succeeded."""
    now = now or utcnow()
    due = select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
    )
    return deliver(session, list(session.scalars(due.order_by(WebhookDelivery.id))), timeout, now)


def deliver(session: Session, ids: list[int], timeout: float, now: datetime | None = None) -> int:
    """One attempt for each pending delivery in `ids`; commits each outcome."""
    return sum(attempt(session, i, timeout, now) == "delivered" for i in ids)


def retry_policy() -> tuple[int, timedelta, timedelta]:
    """(attempts before a delivery is failed, first backoff, longest backoff): the job
    engine's retry settings when an app is at hand, so both schedules agree."""
    if not has_app_context():
        return MAX_ATTEMPTS, BACKOFF_BASE, BACKOFF_CAP
    from distserver.jobs.runtime import retry_policy as job_retry_policy

    retries, low, high = job_retry_policy(current_app.config)
    return retries + 1, timedelta(milliseconds=low), timedelta(milliseconds=high)


def attempt(
    session: Session, delivery_id: int, timeout: float, now: datetime | None = None
) -> str | None:
    """One attempt at a pending delivery, committed; returns its status afterwards
    ("delivered", "pending" or "failed"), or None when it was not pending (or another
    worker holds it right now)."""
    delivery = session.get(WebhookDelivery, delivery_id, with_for_update={"skip_locked": True})
    if delivery is None or delivery.status != "pending":
        session.rollback()
        return None
    hook = session.get(Webhook, delivery.webhook_id)
    assert hook is not None
    max_attempts, base, cap = retry_policy()
    status, error = _post(hook, delivery, timeout)
    delivery.attempts += 1
    delivery.last_status, delivery.last_error = status, error
    when = now or utcnow()
    if status is not None and 200 <= status < 300:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = (
            "delivered",
            when,
            None,
        )
    elif delivery.attempts >= max_attempts:
        delivery.status, delivery.next_attempt_at = "failed", None
    else:
        delivery.next_attempt_at = when + min(base * 2 ** (delivery.attempts - 1), cap)
    outcome = delivery.status
    session.commit()
    return outcome


def _post(
    hook: Webhook, delivery: WebhookDelivery, timeout: float
) -> tuple[int | None, str | None]:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "distserver-webhooks/1",
        "X-Distserver-Event": delivery.event,
        "X-Distserver-Delivery": str(delivery.id),
        "X-Distserver-Timestamp": timestamp,
        "X-Distserver-Signature": signature(hook.secret, timestamp, delivery.body),
    }
    # Resolved and checked at connect time, pinned, no redirects (distserver.outbound).
    outcome = outbound.post(
        hook.url,
        delivery.body.encode(),
        headers,
        timeout=timeout,
        networks=outbound.configured_networks(),
    )
    return outcome.status, outcome.error
