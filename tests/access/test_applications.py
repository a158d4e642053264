"""Applications through /api/v1: auto and manual approval, rejection with a reason
and a cooling-off period, expiry and renewal, revocation, object-level checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from distserver.access.models import Grant
from distserver.db import utcnow
from distserver.extensions import db
from distserver.mail import read_outbox
from tests.access.support import ANSWERS, apply, link, manager, sha, writer
from tests.support.tiers import tiers_with
from tests.support.world import World


@pytest.fixture
def auto_app(make_app, db_backend: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = make_app(
        db_backend, TIERS_DIR=str(tiers_with(tmp_path, {"researcher": {"approval": "auto"}}))
    )
    with app.app_context():
        yield app


def test_auto_approval_grants_at_once(auto_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world, client = World(auto_app, tmp_path / "src"), auto_app.test_client()
    world.model("acme/llm", stage="research-access")
    person = world.person("r@example.org")
    headers = writer(person)
    assert link(client, "acme/llm", headers).json["error"]["code"] == "no_grant"

    response = apply(client, "acme/llm", headers)
    assert response.status_code == 201, response.json
    assert response.json["status"] == "approved"
    assert response.json["decided_by"] == "auto"
    grant = db.session.get(Grant, response.json["grant_id"])
    assert grant is not None
    assert grant.tier == "researcher"
    assert timedelta(days=364) < grant.expires_at - utcnow() <= timedelta(days=365)
    assert link(client, "acme/llm", headers).status_code == 201
    assert any("approved" in m["subject"] for m in read_outbox() if m["to"] == "r@example.org")


def test_manual_review_rejection_reason_and_cooldown(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    applicant = manager(world, "a@example.org")

    first = apply(client, "acme/llm", applicant)
    assert first.status_code == 201
    assert first.json["status"] == "pending"
    assert any(m["to"] == "rev@example.org" for m in read_outbox())
    again = apply(client, "acme/llm", applicant)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "application_pending"

    queue = client.get("/api/v1/applications?status=pending", headers=reviewer)
    assert [a["id"] for a in queue.json["applications"]] == [first.json["id"]]
    assert queue.json["applications"][0]["answers"] == ANSWERS
    assert client.get("/api/v1/applications", headers=applicant).status_code == 403

    app_id = first.json["id"]
    no_reason = client.post(f"/api/v1/applications/{app_id}/reject", json={}, headers=reviewer)
    assert no_reason.status_code == 400
    assert no_reason.json["error"]["code"] == "reason_required"
    rejected = client.post(
        f"/api/v1/applications/{app_id}/reject",
        json={"reason": "Please use an institutional e-mail."},
        headers=reviewer,
    )
    assert rejected.status_code == 200
    seen = client.get(f"/api/v1/applications/{app_id}", headers=applicant).json
    assert seen["status"] == "rejected"
    assert seen["reason"] == "Please use an institutional e-mail."
    mails = [m for m in read_outbox() if m["to"] == "a@example.org"]
    assert "Please use an institutional e-mail." in mails[-1]["body"]

    cooling = apply(client, "acme/llm", applicant)
    assert cooling.status_code == 409
    assert cooling.json["error"]["code"] == "cooldown"
    opens = (utcnow() + timedelta(days=30)).date().isoformat()
    assert opens in cooling.json["error"]["message"]
    with time_machine.travel(utcnow() + timedelta(days=31)):
        assert apply(client, "acme/llm", applicant).status_code == 201


def test_form_and_agreement_are_checked(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    headers = manager(world, "a@example.org")
    cases = [
        ({"answers": {"affiliation": "X"}}, 400, "invalid_answers"),
        ({"answers": {**ANSWERS, "extra": "x"}}, 400, "invalid_answers"),
        ({"answers": {**ANSWERS, "affiliation": 5}}, 400, "invalid_answers"),
        ({"answers": "yes"}, 400, "invalid_answers"),
        ({"agreement_sha256": "0" * 64}, 409, "agreement_mismatch"),
        ({"tier": "public"}, 400, "not_applicable"),
        ({"tier": "nope"}, 400, "unknown_tier"),
    ]
    for body, status, code in cases:
        response = apply(client, "acme/llm", headers, **body)
        assert (response.status_code, response.json["error"]["code"]) == (status, code), body
    assert apply(client, "acme/none", headers).status_code == 404
    assert client.post("/api/v1/models/acme/llm/applications", json={}).status_code == 401


def test_expired_grant_refused_then_renewed(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    headers = manager(world, "a@example.org")
    app_id = apply(client, "acme/llm", headers).json["id"]
    approved = client.post(f"/api/v1/applications/{app_id}/approve", json={}, headers=reviewer)
    assert approved.status_code == 200, approved.json
    grant_id = approved.json["applications"][0]["grant_id"]
    assert link(client, "acme/llm", headers).status_code == 201

    db.session.execute(
        db.update(Grant)
        .where(Grant.id == grant_id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    refused = link(client, "acme/llm", headers)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "grant_expired"
    access = client.get("/api/v1/me/access", headers=headers).json
    assert access["grants"][0]["state"] == "expired"

    renewal = client.post(
        f"/api/v1/grants/{grant_id}/renew",
        json={"agreement_sha256": sha("researcher")},
        headers=headers,
    )
    assert renewal.status_code == 201, renewal.json
    assert renewal.json["renewal_of"] == grant_id
    assert renewal.json["answers"] == ANSWERS
    decided = client.post(
        "/api/v1/applications/decide",
        json={"ids": [renewal.json["id"]], "decision": "approve"},
        headers=reviewer,
    )
    assert decided.status_code == 200
    assert link(client, "acme/llm", headers).status_code == 201


def test_revocation_takes_effect_on_the_next_request(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    holder = world.person("h@example.org", tiers=("researcher",))
    assert link(client, "acme/llm", holder.auth).status_code == 201
    grant = db.session.scalar(db.select(Grant).where(Grant.user_id == holder.user.id))
    assert client.post(f"/api/v1/grants/{grant.id}/revoke", headers=holder.auth).status_code == 403
    revoked = client.post(f"/api/v1/grants/{grant.id}/revoke", headers=reviewer)
    assert revoked.status_code == 200, revoked.json
    refused = link(client, "acme/llm", holder.auth)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "no_grant"
    assert client.post(f"/api/v1/grants/{grant.id}/revoke", headers=reviewer).status_code == 404


def test_new_agreement_version_requires_acceptance(make_app, db_backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from distserver.access.tiers import load_tiers

    tiers_dir = tiers_with(tmp_path, {})
    app = make_app(db_backend, TIERS_DIR=str(tiers_dir))
    with app.app_context():
        world, client = World(app, tmp_path / "src"), app.test_client()
        world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",))
        headers = writer(person)
        assert link(client, "acme/llm", headers).status_code == 201
        old = sha("researcher")

        path = tiers_dir / "agreements" / "research-use.md"
        path.write_text(path.read_text().replace("version 1", "version 2") + "\n5. New term.\n")
        (tiers_dir / "researcher.toml").write_text(
            (tiers_dir / "researcher.toml").read_text().replace('version = "1"', 'version = "2"')
        )
        rt = app.extensions["distserver"]
        app.extensions["distserver"] = replace(rt, tiers=load_tiers(tiers_dir))  # a restart
        assert sha("researcher") != old

        refused = link(client, "acme/llm", headers)
        assert refused.status_code == 403
        assert refused.json["error"]["code"] == "agreement_required"
        assert "version 2" in refused.json["error"]["message"]
        stale = client.post(
            "/api/v1/models/acme/llm/agreement",
            json={"tier": "researcher", "agreement_sha256": old},
            headers=headers,
        )
        assert stale.status_code == 409
        assert stale.json["error"]["code"] == "agreement_mismatch"
        accepted = client.post(
            "/api/v1/models/acme/llm/agreement",
            json={"tier": "researcher", "agreement_sha256": sha("researcher")},
            headers=headers,
        )
        assert accepted.status_code == 201, accepted.json
        assert link(client, "acme/llm", headers).status_code == 201
        agreements = client.get("/api/v1/me/access", headers=headers).json["agreements"]
        assert [(a["version"], a["current"]) for a in agreements] == [("1", False), ("2", True)]


def test_idor_other_users_applications_are_not_found(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    alice, bob = manager(world, "alice@example.org"), manager(world, "bob@example.org")
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    mine = apply(client, "acme/llm", alice).json["id"]
    missing = client.get("/api/v1/applications/999999", headers=bob)
    assert missing.status_code == 404
    tried = 0
    for app_id in (mine, mine + 1, 999999, 0):
        for method, url in (
            ("get", f"/api/v1/applications/{app_id}"),
            ("post", f"/api/v1/applications/{app_id}/withdraw"),
            ("post", f"/api/v1/grants/{app_id}/renew"),
        ):
            response = getattr(client, method)(url, headers=bob)
            assert response.status_code == 404, (method, url)
            assert response.json["error"]["code"] in ("application_not_found", "grant_not_found")
            tried += 1
    assert client.get("/api/v1/applications/-1", headers=bob).status_code == 404
    print(f"IDOR: {tried} cases tried, {tried} held")
    assert client.get(f"/api/v1/applications/{mine}", headers=reviewer).status_code == 200
    withdrawn = client.post(f"/api/v1/applications/{mine}/withdraw", headers=alice)
    assert withdrawn.status_code == 200
    assert withdrawn.json["status"] == "withdrawn"


def test_bulk_decisions_and_access_report(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    world.model("acme/other", stage="research-access")
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    auditor = manager(world, "aud@example.org", roles=("auditor",))
    ids = [
        apply(client, ref, manager(world, f"u{i}@example.org")).json["id"]
        for i, ref in enumerate(("acme/llm", "acme/other", "acme/llm"))
    ]
    own = apply(client, "acme/llm", reviewer).json["id"]
    assert (
        client.post(
            "/api/v1/applications/decide",
            json={"ids": [own], "decision": "approve"},
            headers=reviewer,
        ).json["error"]["code"]
        == "own_application"
    )
    filtered = client.get("/api/v1/applications?model=acme/other", headers=reviewer).json
    assert [a["id"] for a in filtered["applications"]] == [ids[1]]
    bulk = client.post(
        "/api/v1/applications/decide",
        json={"ids": ids[:2], "decision": "reject", "reason": "Incomplete."},
        headers=reviewer,
    )
    assert [a["status"] for a in bulk.json["applications"]] == ["rejected", "rejected"]
    twice = client.post(
        "/api/v1/applications/decide", json={"ids": ids, "decision": "approve"}, headers=reviewer
    )
    assert twice.status_code == 409  # all or none: ids[2] stays pending
    assert (
        client.get(f"/api/v1/applications/{ids[2]}", headers=reviewer).json["status"] == "pending"
    )

    report = client.get("/api/v1/reports/access?format=json", headers=auditor).json["rows"]
    rejected = [r for r in report if r["status"] == "rejected"]
    assert {r["email"] for r in rejected} == {"u0@example.org", "u1@example.org"}
    assert all(r["decided_by"] == "rev@example.org" and r["decided_at"] for r in rejected)
    csv = client.get("/api/v1/reports/access?format=csv", headers=auditor)
    assert csv.status_code == 200
    assert csv.mimetype == "text/csv"
    assert csv.text.splitlines()[0].startswith("application_id,user,email,tier,model,status")
    assert (
        client.get("/api/v1/reports/access", headers=manager(world, "x@example.org")).status_code
        == 403
    )
