"""Stage transitions reach the webhooks subscribed to them, signed."""

from __future__ import annotations

import json

from distserver.access import webhooks
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.jobs import drain
from distserver.releases import services as releases
from tests.access.test_orgs_webhooks import Receiver
from tests.support.world import World


def test_halt_and_resume_are_delivered_to_subscribed_webhooks(world: World) -> None:
    model = world.model("acme/llm", stage="research-access")
    # Loopback is refused unless the allow-list names it (distserver.outbound).
    world.app.config["WEBHOOK_ALLOWED_NETWORKS"] = ["127.0.0.0/8"]
    receiver = Receiver([])
    try:
        _, secret = webhooks.create_webhook(
            db.session, receiver.url, ["release:stage:halted", "release:stage:resumed"], SYSTEM
        )
        releases.halt(db.session, model, "suspected leak", SYSTEM)
        releases.resume(db.session, model, SYSTEM, "cleared")
        drain()  # delivered by jobs enqueued after each commit
        events = [r["headers"]["X-Distserver-Event"] for r in receiver.received]
        assert events == ["release:stage:halted", "release:stage:resumed"]
        first = receiver.received[0]
        h = first["headers"]
        assert webhooks.verify(
            secret, h["X-Distserver-Timestamp"], first["body"], h["X-Distserver-Signature"]
        )
        body = json.loads(first["body"])
        assert body["data"]["model"] == "acme/llm"
        assert body["data"]["reason"] == "suspected leak"
    finally:
        receiver.close()
