"""The background jobs. Each runs inside its app's context with a fresh session (see
JobRuntime) and calls the same service the matching CLI command calls, so cron and the
job engine do the same work."""

from __future__ import annotations

import logging

import dramatiq
from flask import current_app

from distserver.extensions import db
from distserver.jobs.registry import (
    COPIES_QUEUE,
    MAIL_QUEUE,
    MAINTENANCE_QUEUE,
    WEBHOOKS_QUEUE,
    job,
)

log = logging.getLogger("distserver.jobs")


class WebhookDeliveryFailed(Exception):
    """A delivery used up its attempts: not retried again, the message is dead-lettered."""


@job("mail.send", queue=MAIL_QUEUE)
def send_mail(sealed: str) -> None:
    """Deliver one message (sealed by distserver.mail.send_mail) through MAIL_BACKEND:
    SMTP, or the outbox folder. A failure is logged in one line, without the message,
    and retried with backoff (Retry keeps Dramatiq from logging the job's arguments
    with a traceback)."""
    from distserver.mail import deliver, open_message

    to, subject, body = open_message(sealed)
    try:
        deliver(to, subject, body)
    except Exception as exc:
        log.warning(
            "mail %r not sent (%s: %s); it will be retried", subject, type(exc).__name__, exc
        )
        raise dramatiq.Retry("mail not sent") from None


@job("webhooks.deliver", queue=WEBHOOKS_QUEUE, throws=(WebhookDeliveryFailed,))
def deliver_webhook(delivery_id: int) -> None:
    """One attempt at a webhook delivery; a failure asks the engine for a retry."""
    from distserver.access import webhooks

    status = webhooks.attempt(db.session, delivery_id, webhooks.RETRY_TIMEOUT)
    if status == "pending":
        raise dramatiq.Retry(f"webhook delivery {delivery_id} not accepted yet")
    if status == "failed":
        raise WebhookDeliveryFailed(f"webhook delivery {delivery_id} failed every attempt")


# Periodic jobs: the next period is their retry, so a failure is dead-lettered at once.


@job("audit.seal", queue=MAINTENANCE_QUEUE, max_retries=0)
def seal_audit_log() -> None:
    """Seal pending audit events (the entry point `distserver audit seal` uses)."""
    from distserver.audit.keys import signing_key
    from distserver.audit.sealing import seal_pending

    report = seal_pending(db.session, signing_key(current_app.config))
    if report.sealed:
        log.info("%s", report.message)


@job("releases.tick", queue=MAINTENANCE_QUEUE, max_retries=0)
def tick_releases() -> None:
    """Apply scheduled promotions that are due (`distserver releases tick`)."""
    from distserver.app_runtime import current_runtime
    from distserver.releases import services

    for line in services.tick(db.session, current_runtime().plans):
        log.info("opened %s", line)


@job("grants.remind", queue=MAINTENANCE_QUEUE, max_retries=0)
def remind_grant_holders() -> None:
    """Mail holders of grants expiring within GRANT_REMINDER_DAYS (`distserver grants
    remind`)."""
    from distserver.access.notifications import remind_expiring

    days = int(current_app.config.get("GRANT_REMINDER_DAYS", 14))
    remind_expiring(db.session, days)


@job("applications.digest", queue=MAINTENANCE_QUEUE, max_retries=0)
def send_review_digest() -> None:
    """Mail reviewers the summary of pending applications (`distserver applications
    digest`)."""
    from distserver.access.notifications import send_digest

    send_digest(db.session)


@job("alerts.evaluate", queue=MAINTENANCE_QUEUE, max_retries=0)
def evaluate_alerts() -> None:
    """Run the alert rules over newly sealed events (`distserver alerts evaluate`)."""
    from distserver.alerts.evaluate import evaluate
    from distserver.alerts.service import current_rules

    report = evaluate(db.session, current_rules())
    if report.raised:
        log.info("%s", report.message)


# Marked copies (distserver/fingerprint/preparation.py). A copy that fails is retried
# with the engine's backoff; a worker killed mid-copy leaves its message to be delivered
# again, and a door or the periodic plan re-queues a task whose heartbeat went quiet.


@job("fingerprint.plan", queue=COPIES_QUEUE)
def plan_copies(model_id: int | None = None, user_id: int | None = None) -> None:
    """Record and queue the marked copies current access calls for (of one model, one
    user, or everyone when both are None: the periodic sweep)."""
    from distserver.app_runtime import current_runtime
    from distserver.fingerprint.preparation import enqueue_copies, plan

    ids = plan(db.session, current_runtime(), model_id=model_id, user_id=user_id)
    enqueue_copies(ids, db.session)
    if ids:
        log.info("queued %d marked cop%s", len(ids), "y" if len(ids) == 1 else "ies")


@job("fingerprint.copy", queue=COPIES_QUEUE, time_limit=24 * 3600 * 1000)
def prepare_copy(task_id: int) -> None:
    """Make one recipient's marked copy of one weights file; at most
    FINGERPRINT_COPY_CONCURRENCY at once per worker process (a job that finds every
    slot taken is sent again a few seconds later)."""
    from distserver.app_runtime import current_runtime
    from distserver.fingerprint.copy_job import prepare
    from distserver.jobs import job_runtime

    outcome = prepare(db.session, current_runtime(), task_id)
    if outcome == "busy":
        job_runtime().actors["fingerprint.copy"].send_with_options(args=(task_id,), delay=2000)
