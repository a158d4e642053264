"""Done-when 3a: a webhook receiver (a real HTTP server on 127.0.0.1) that fails twice
then succeeds gets exactly one successful delivery, through the job engine's retries
with backoff; one that never succeeds ends as failed, visibly (dead-lettered).
Both with the in-process queue and with Redis and a separate worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
from flask import Flask

from distserver.access import webhooks
from distserver.access.models import WebhookDelivery
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.jobs import backlog, failed, failed_count
from tests.access.test_orgs_webhooks import Receiver
from tests.jobs.support import running_worker, wait_for
from tests.support.redis_namespace import redis_settings

SHORT_BACKOFF = {"JOBS_MIN_BACKOFF_MS": 50, "JOBS_MAX_BACKOFF_MS": 200}
# The receiver listens on loopback, which webhook deliveries refuse unless allowed.
LOOPBACK_ALLOWED = {"WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.0/8"]}


@contextmanager
def app_with_jobs(make_app: Any, queue: str, **settings: Any) -> Iterator[Flask]:
    """An app whose jobs run in-process, or through Redis with a worker in threads."""
    with ExitStack() as stack:
        if queue == "redis":
            settings.update(stack.enter_context(redis_settings()))
        app = make_app("sqlite", **SHORT_BACKOFF, **LOOPBACK_ALLOWED, **settings)
        stack.enter_context(app.app_context())
        if queue == "redis":
            stack.enter_context(running_worker(app))
        yield app


def _emit_one(url: str) -> int:
    webhooks.create_webhook(db.session, url, ["release:stage:promoted"], SYSTEM)
    (delivery_id,) = webhooks.emit(
        db.session, "release:stage:promoted", {"model": "acme/llm", "stage": "public"}
    )
    db.session.commit()
    return delivery_id


def _delivery(delivery_id: int) -> WebhookDelivery:
    db.session.rollback()  # a fresh snapshot: the worker commits in its own session
    delivery = db.session.get(WebhookDelivery, delivery_id, populate_existing=True)
    assert delivery is not None
    return delivery


@pytest.mark.parametrize("queue", ["in-process", "redis"])
def test_receiver_failing_twice_gets_exactly_one_delivery_after_retries(
    make_app: Any, queue: str
) -> None:
    receiver = Receiver([500, 503])
    try:
        with app_with_jobs(make_app, queue):
            delivery_id = _emit_one(receiver.url)
            wait_for(lambda: _delivery(delivery_id).status == "delivered", what="the third attempt")
            time.sleep(0.5)  # longer than the backoff: no further attempt may come
            delivery = _delivery(delivery_id)
            assert (delivery.status, delivery.attempts, delivery.last_status) == (
                "delivered",
                3,
                200,
            )
            assert len(receiver.received) == 3
            assert receiver.statuses == []
            ids = {r["headers"]["X-Distserver-Delivery"] for r in receiver.received}
            assert ids == {str(delivery_id)}
            # Every retry is signed afresh and still verifies.
            hook = db.session.scalar(db.select(webhooks.Webhook))
            for got in receiver.received:
                h = got["headers"]
                assert webhooks.verify(
                    hook.secret,
                    h["X-Distserver-Timestamp"],
                    got["body"],
                    h["X-Distserver-Signature"],
                )
            wait_for(lambda: backlog()["webhooks"] == 0, what="an empty webhook queue")
            assert failed_count() == 0
    finally:
        receiver.close()


@pytest.mark.parametrize("queue", ["in-process", "redis"])
def test_a_receiver_that_never_succeeds_ends_failed_and_dead_lettered(
    make_app: Any, queue: str
) -> None:
    receiver = Receiver([500] * 50)
    try:
        with app_with_jobs(make_app, queue, JOBS_MAX_RETRIES=2):
            delivery_id = _emit_one(receiver.url)
            wait_for(lambda: failed()["webhooks"] == 1, what="the dead-lettered delivery")
            delivery = _delivery(delivery_id)
            assert (delivery.status, delivery.attempts, delivery.last_status) == ("failed", 3, 500)
            assert len(receiver.received) == 3  # JOBS_MAX_RETRIES + 1 attempts, no more
            assert failed_count() == 1
            wait_for(lambda: backlog()["webhooks"] == 0, what="nothing left to retry")
    finally:
        receiver.close()
