"""Partner organisations (membership is the grant), signed webhooks on loopback with
retries, and the audit trail of every access change."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from flask import Flask

from distserver.access import webhooks
from distserver.access.models import WebhookDelivery
from distserver.db import utcnow
from distserver.extensions import db
from distserver.jobs import drain
from tests.access.support import apply, link, manager, sha, writer
from tests.support.world import World


def test_org_member_holds_the_tier_until_removed(client, world: World) -> None:
    world.model("acme/llm", stage="partner-preview")
    admin = manager(world, "admin@example.org", roles=("admin",))
    member = world.person("m@example.org")
    member_headers = writer(member)
    lead = manager(world, "lead@example.org")

    assert (
        client.post("/api/v1/orgs", json={"slug": "lab", "name": "Lab"}, headers=lead).status_code
        == 403
    )
    created = client.post(
        "/api/v1/orgs", json={"slug": "lab", "name": "Partner Lab"}, headers=admin
    )
    assert created.status_code == 201
    assert created.json["tier"] == "vetted_partner"
    added = client.post(
        "/api/v1/orgs/lab/members",
        json={"email": "lead@example.org", "role": "manager"},
        headers=admin,
    )
    assert added.status_code == 201
    # A manager adds a member; the member accepts the partner agreement.
    by_manager = client.post(
        "/api/v1/orgs/lab/members", json={"email": "m@example.org"}, headers=lead
    )
    assert by_manager.status_code == 201, by_manager.json
    accepted = client.post(
        "/api/v1/models/acme/llm/agreement",
        json={"tier": "vetted_partner", "agreement_sha256": sha("vetted_partner")},
        headers=member_headers,
    )
    assert accepted.status_code == 201
    # No signed organisation agreement yet: no standing in the tier.
    assert link(client, "acme/llm", member_headers).json["error"]["code"] == "no_grant"
    signed = client.post(
        "/api/v1/orgs/lab/agreement", json={"signed_by": "Dr. Director"}, headers=admin
    )
    assert signed.status_code == 201
    assert signed.json["agreement"]["version"] == "1"
    assert link(client, "acme/llm", member_headers).status_code == 201
    assert client.get("/api/v1/me/access", headers=member_headers).json["organizations"][0][
        "agreement_current"
    ]

    # Members are not managers; outsiders do not see the organisation at all.
    assert client.get("/api/v1/orgs/lab", headers=member_headers).status_code == 200
    outsider = manager(world, "o@example.org")
    assert client.get("/api/v1/orgs/lab", headers=outsider).status_code == 404
    assert (
        client.delete(f"/api/v1/orgs/lab/members/{member.user.id}", headers=outsider).status_code
        == 404
    )

    removed = client.delete(f"/api/v1/orgs/lab/members/{member.user.id}", headers=lead)
    assert removed.status_code == 200, removed.json
    refused = link(client, "acme/llm", member_headers)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "no_grant"


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers the given statuses in turn."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.received = statuses, []  # type: list[int], list[dict[str, Any]]
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    # Loopback is refused unless the allow-list names it (distserver.outbound).
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ["127.0.0.0/8"]
    r = Receiver([500])
    yield r
    r.close()


def test_webhook_deliveries_are_signed_and_retried(
    client, world: World, receiver: Receiver
) -> None:
    world.model("acme/llm", stage="research-access")
    admin = manager(world, "admin@example.org", roles=("admin",))
    hook = client.post(
        "/api/v1/webhooks",
        json={
            "url": receiver.url,
            "events": ["access:application:submitted", "release:stage:promoted"],
        },
        headers=admin,
    )
    assert hook.status_code == 201, hook.json
    secret = hook.json["secret"]
    assert "secret" not in client.get("/api/v1/webhooks", headers=admin).json["webhooks"][0]

    applicant = manager(world, "a@example.org")
    app_id = apply(client, "acme/llm", applicant).json["id"]
    # Attempted by a job enqueued once the request committed; the receiver answered 500.
    drain()
    assert len(receiver.received) == 1
    listed = client.get("/api/v1/webhooks", headers=admin).json["webhooks"][0]["deliveries"]
    assert [(d["status"], d["attempts"], d["last_status"]) for d in listed] == [("pending", 1, 500)]
    delivery = db.session.scalar(db.select(WebhookDelivery))
    assert delivery.next_attempt_at > utcnow() + timedelta(seconds=20)

    assert webhooks.deliver_due(db.session) == 0  # not due yet
    assert webhooks.deliver_due(db.session, now=utcnow() + timedelta(minutes=1)) == 1
    assert len(receiver.received) == 2
    for got in receiver.received:
        h = got["headers"]
        assert h["X-Distserver-Event"] == "access:application:submitted"
        assert webhooks.verify(
            secret, h["X-Distserver-Timestamp"], got["body"], h["X-Distserver-Signature"]
        )
        assert not webhooks.verify(
            "wrong", h["X-Distserver-Timestamp"], got["body"], h["X-Distserver-Signature"]
        )
        assert not webhooks.verify(
            secret, h["X-Distserver-Timestamp"], got["body"] + " ", h["X-Distserver-Signature"]
        )
    assert f'"application_id":{app_id}' in receiver.received[1]["body"]
    listed = client.get("/api/v1/webhooks", headers=admin).json["webhooks"][0]["deliveries"]
    assert [(d["status"], d["attempts"], d["last_status"]) for d in listed] == [
        ("delivered", 2, 200)
    ]

    # emit() is what release services call for stage events.
    webhooks.emit(db.session, "release:stage:promoted", {"model": "acme/llm", "stage": "x"})
    db.session.commit()
    drain()
    assert receiver.received[-1]["headers"]["X-Distserver-Event"] == "release:stage:promoted"
    # A rolled-back event is never sent.
    webhooks.emit(db.session, "release:stage:promoted", {"model": "acme/llm", "stage": "y"})
    db.session.rollback()
    db.session.commit()
    drain()
    assert len(receiver.received) == 3


def test_every_access_change_is_an_audit_event(client, world: World, receiver: Receiver) -> None:
    world.model("acme/llm", stage="research-access")
    admin = manager(world, "admin@example.org", roles=("admin",))
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    a, b, c = (manager(world, f"{n}@example.org") for n in "abc")
    client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=admin)
    first = apply(client, "acme/llm", a).json["id"]
    second = apply(client, "acme/llm", b).json["id"]
    third = apply(client, "acme/llm", c).json["id"]
    approved = client.post(f"/api/v1/applications/{first}/approve", json={}, headers=reviewer).json
    client.post(f"/api/v1/applications/{second}/reject", json={"reason": "No."}, headers=reviewer)
    client.post(f"/api/v1/applications/{third}/withdraw", headers=c)
    client.post(
        f"/api/v1/grants/{approved['applications'][0]['grant_id']}/revoke", headers=reviewer
    )
    client.post("/api/v1/orgs", json={"slug": "lab", "name": "Lab"}, headers=admin)
    client.post("/api/v1/orgs/lab/agreement", json={"signed_by": "Director"}, headers=admin)
    client.post("/api/v1/orgs/lab/members", json={"email": "c@example.org"}, headers=admin)
    user_id = db.session.scalar(db.text("select id from users where email = 'c@example.org'"))
    client.delete(f"/api/v1/orgs/lab/members/{user_id}", headers=admin)

    expected = {
        "access:webhook:created": 1,
        "access:application:submitted": 3,
        "access:agreement:accepted": 3,
        "access:application:approved": 1,
        "access:grant:added": 1,
        "access:application:rejected": 1,
        "access:application:withdrawn": 1,
        "access:grant:revoked": 1,
        "access:organization:created": 1,
        "access:organization:agreement_signed": 1,
        "access:membership:added": 1,
        "access:membership:removed": 1,
    }
    found = {tag: len(world.events(tag)) for tag in expected}
    print("audit events per access change:", found)
    assert found == expected
    rejected = world.events("access:application:rejected")[0]
    assert rejected.actor == "rev@example.org"
    assert rejected.model == "acme/llm"
    # Every one of those went out to the '*' webhook as well, except its own creation.
    drain()
    assert len(receiver.received) >= 7


def test_api_names_a_manager_rotates_a_secret_and_redelivers(client, world: World) -> None:
    admin = manager(world, "admin@example.org", roles=("admin",))
    member = world.person("m@example.org")
    client.post("/api/v1/orgs", json={"slug": "lab", "name": "Lab"}, headers=admin)
    client.post("/api/v1/orgs/lab/members", json={"email": "m@example.org"}, headers=admin)
    named = client.patch(
        f"/api/v1/orgs/lab/members/{member.user.id}", json={"role": "manager"}, headers=admin
    )
    assert named.status_code == 200, named.json
    assert named.json["members"][0]["role"] == "manager"
    bad = client.patch(
        f"/api/v1/orgs/lab/members/{member.user.id}", json={"role": "owner"}, headers=admin
    )
    assert bad.status_code == 400
    assert "member, manager" in bad.json["error"]["message"]
    # A manager manages members but does not name managers.
    as_manager = writer(member)
    assert (
        client.patch(
            f"/api/v1/orgs/lab/members/{member.user.id}",
            json={"role": "member"},
            headers=as_manager,
        ).status_code
        == 403
    )

    hook = client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example.org/h", "events": ["*"]},
        headers=admin,
    ).json
    rotated = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=admin)
    assert rotated.status_code == 200
    assert rotated.json["secret"] != hook["secret"]
    assert db.session.get(webhooks.Webhook, hook["id"]).secret == rotated.json["secret"]
    [delivery] = webhooks.emit(db.session, "release:stage:halted", {"model": "acme/llm"})
    db.session.commit()
    again = client.post(
        f"/api/v1/webhooks/{hook['id']}/deliveries/{delivery}/redeliver", headers=admin
    )
    assert again.status_code == 201, again.json
    assert again.json["id"] != delivery
    assert again.json["event"] == "release:stage:halted"
    other = client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/999/redeliver", headers=admin)
    assert other.status_code == 404
    assert other.json["error"]["code"] == "delivery_not_found"
    refused = client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=as_manager)
    assert refused.status_code == 403
