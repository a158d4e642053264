"""/api/v1/audit/events, /api/v1/audit/checkpoints and /api/v1/receipts/<link_id>."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from distserver.audit.chain import canonical_bytes, link_hash
from distserver.audit.checkpoints import Checkpoint, load_public_key, parse_utc, verify_checkpoint
from distserver.audit.keys import verify_receipt
from distserver.audit.sealing import seal_pending
from distserver.extensions import db
from tests.audit.helpers import add_events, key
from tests.support.world import World


def _pages(client: FlaskClient, headers: dict[str, str], query: str) -> list[dict]:
    events: list[dict] = []
    url = f"/api/v1/audit/events?{query}"
    while True:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.json
        events += r.json["events"]
        if r.json["next"] is None:
            return events
        url = f"/api/v1/audit/events?{query}&cursor={r.json['next']}"


def test_only_auditors_and_admins_read_events(client: FlaskClient, world: World) -> None:
    world.model("acme/llm")
    alice = world.person("alice@example.org")
    audrey = world.person("audrey@example.org", roles=("auditor",))
    adam = world.person("adam@example.org", roles=("admin",))
    assert client.get("/api/v1/audit/events").status_code == 401
    r = client.get("/api/v1/audit/events", headers=alice.auth)
    assert r.status_code == 403
    assert r.json["error"]["code"] == "forbidden"
    assert client.get("/api/v1/audit/events", headers=audrey.auth).status_code == 200
    assert client.get("/api/v1/audit/events", headers=adam.auth).status_code == 200


def test_filters_and_cursor_pagination(app: Flask, client: FlaskClient, world: World) -> None:
    audrey = world.person("audrey@example.org", roles=("auditor",))
    add_events(30)
    seal_pending(db.session, key(app))
    add_events(5)  # unsealed ones are listed too, without seq
    every = [e.id for e in world.events()]

    listed = _pages(client, audrey.auth, "limit=7")
    assert [e["id"] for e in listed] == sorted(every, reverse=True)  # each once, newest first
    assert listed[0]["seq"] is None
    assert listed[-1]["seq"] is not None

    model = _pages(client, audrey.auth, "model=acme/llm&limit=4")
    assert len(model) == 15 + 2
    assert all(e["model"] == "acme/llm" for e in model)
    user = _pages(client, audrey.auth, "user=user3@example.org")
    assert {e["actor"] for e in user} == {"user3@example.org"}
    assert len(user) == 5
    logins = _pages(client, audrey.auth, "action=account:login:succeeded")
    assert {e["action"] for e in logins} == {"account:login:succeeded"}
    downloads = _pages(client, audrey.auth, "action=download")
    assert {e["action"] for e in downloads} == {"download:link:issued"}
    assert (len(logins), len(downloads)) == (10 + 2, 20 + 3)
    window = _pages(client, audrey.auth, "since=2026-01-01T00:00:10Z&until=2026-01-01T00:00:20Z")
    assert len(window) == 10  # seconds 10..19 of the first batch only
    assert all("2026-01-01T00:00:1" in e["occurred_at"] for e in window)

    for bad in ("limit=0", "limit=5000", "cursor=abc", "since=yesterday"):
        r = client.get(f"/api/v1/audit/events?{bad}", headers=audrey.auth)
        assert r.status_code == 400, bad
        assert r.json["error"]["code"] == "invalid_parameter", bad


def test_checkpoints_are_public_and_verify(app: Flask, client: FlaskClient) -> None:
    add_events(12)
    seal_pending(db.session, key(app), batch=5)
    r = client.get("/api/v1/audit/checkpoints")
    assert r.status_code == 200
    public = load_public_key(r.json["public_key"].encode())
    cps = [Checkpoint.from_dict(c) for c in r.json["checkpoints"]]
    assert [cp.seq for cp in cps] == [4, 9, 11]
    assert all(verify_checkpoint(public, cp) for cp in cps)
    r = client.get("/api/v1/audit/checkpoints?after=4&limit=1")
    assert [c["seq"] for c in r.json["checkpoints"]] == [9]
    assert r.json["next"] == "9"


def test_receipt_of_an_issued_link(app: Flask, client: FlaskClient, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    alice = world.person("alice@example.org", tiers=("researcher",))
    bob = world.person("bob@example.org", tiers=("researcher",))
    link = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=alice.auth
    ).json
    url = f"/api/v1/receipts/{link['link_id']}"

    unsealed = client.get(url, headers=alice.auth)
    assert unsealed.status_code == 200, unsealed.json
    assert unsealed.json["receipt"]["checkpoint"] is None

    seal_pending(db.session, key(app))
    r = client.get(url, headers=alice.auth)
    signed = r.json
    body = signed["receipt"]
    assert body["sha256"] == link["sha256"]
    assert body["tier"] == "researcher"
    # A third party with only the public key:
    public = key(app).public_key()
    assert verify_receipt(public, signed)
    event = dict(body["event"], occurred_at=parse_utc(body["event"]["occurred_at"]))
    again = link_hash(bytes.fromhex(body["prev_hash"]), body["seq"], canonical_bytes(event))
    assert again.hex() == body["hash"]
    assert event["id"] == body["event_id"]
    cp = Checkpoint.from_dict(body["checkpoint"])
    assert verify_checkpoint(public, cp)
    assert cp.seq >= body["seq"]
    forged = dict(signed, receipt=dict(body, tier="vetted_partner"))
    assert not verify_receipt(public, forged)

    # Someone else's link is answered as a missing one; anonymous must sign in.
    assert client.get(url, headers=bob.auth).status_code == 404
    assert client.get("/api/v1/receipts/nope", headers=alice.auth).status_code == 404
    assert client.get(url).status_code == 401
