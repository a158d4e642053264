"""Done when 5: every transition and piece of gate evidence is an audit event with
its actor, and appears in the model's timeline through /api/v1. Plus who may call
the release endpoints: safety/admin with a `manage` token; 403 for others, 404 for
a model the caller may not see, 401 without credentials."""

from __future__ import annotations

from flask.testing import FlaskClient

from distserver.audit.tags import EventTag
from tests.releases.support import staff
from tests.support.world import World

BASE = "/api/v1/models/acme/api"


def test_release_actions_through_the_api_land_in_audit_and_timeline(
    client: FlaskClient, world: World
) -> None:
    world.model("acme/api", stage=None)
    ev = staff(world, "eve@example.org", "safety")
    s1 = staff(world, "s1@example.org", "safety")
    s2 = staff(world, "s2@example.org", "safety")
    boss = staff(world, "boss@example.org", "admin")

    refused = client.post(f"{BASE}/promote", headers=boss.auth)
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "gate_unmet"
    assert refused.json["error"]["message"] == (
        "Promotion of acme/api to partner-preview refused: evaluation red-team: no result; "
        "evaluation dangerous-capabilities: no result; sign-offs from safety staff: 0 of 2."
    )
    request_ids = []
    for name in ("red-team", "dangerous-capabilities"):
        r = client.post(
            f"{BASE}/evaluations",
            json={"name": name, "result": "pass", "report": f"reports/{name}.pdf"},
            headers=ev.auth,
        )
        assert r.status_code == 201, r.json
        request_ids.append(r.headers["X-Request-ID"])
    bad = client.post(
        f"{BASE}/evaluations",
        json={"name": "vibes", "result": "pass", "report": "x"},
        headers=ev.auth,
    )
    assert bad.status_code == 400
    assert bad.json["error"]["code"] == "unknown_evaluation"
    assert client.post(f"{BASE}/signoffs", headers=ev.auth).status_code == 403  # evaluator
    assert client.post(f"{BASE}/signoffs", json={"note": "ok"}, headers=s1.auth).status_code == 201
    assert client.post(f"{BASE}/signoffs", headers=s1.auth).status_code == 409  # twice
    gate = client.post(f"{BASE}/signoffs", headers=s2.auth)
    assert gate.status_code == 201
    assert gate.json["met"] is True
    assert all(r["met"] for r in gate.json["requirements"])
    promoted = client.post(f"{BASE}/promote", json={"note": "go"}, headers=boss.auth)
    assert promoted.status_code == 200
    assert promoted.json["stage"] == "partner-preview"
    assert client.post(f"{BASE}/halt", json={"reason": "leak"}, headers=s1.auth).status_code == 200
    assert client.post(f"{BASE}/resume", headers=s1.auth).status_code == 200
    demoted = client.post(f"{BASE}/demote", json={"note": "back"}, headers=boss.auth)
    assert demoted.status_code == 200
    assert demoted.json["stage"] == "internal"

    want = [
        (EventTag.EVALUATION_RECORDED, "eve@example.org"),
        (EventTag.EVALUATION_RECORDED, "eve@example.org"),
        (EventTag.SIGNOFF_RECORDED, "s1@example.org"),
        (EventTag.SIGNOFF_RECORDED, "s2@example.org"),
        (EventTag.STAGE_PROMOTED, "boss@example.org"),
        (EventTag.STAGE_HALTED, "s1@example.org"),
        (EventTag.STAGE_RESUMED, "s1@example.org"),
        (EventTag.STAGE_DEMOTED, "boss@example.org"),
    ]  # the refused promotion changed nothing, so it left no release event
    audit = [(e.tag, e.actor) for e in world.events() if e.tag.startswith("release:")]
    assert audit == [(str(tag), actor) for tag, actor in want]

    timeline = client.get(f"{BASE}/timeline", headers=s2.auth)
    assert timeline.status_code == 200
    events = [e for e in timeline.json["events"] if e["tag"].startswith("release:")]
    assert [(e["tag"], e["actor"]) for e in events] == audit
    assert events[0]["data"] == {
        "stage": "partner-preview",
        "name": "red-team",
        "result": "pass",
        "report": "reports/red-team.pdf",
        "request_id": request_ids[0],  # the request that recorded it (issue 14)
    }
    assert events[4]["data"]["from"] == "internal"
    assert events[4]["data"]["to"] == "partner-preview"
    assert events[-1]["data"]["to"] == "internal"
    assert events[0]["revision"]
    assert all(e["at"].endswith("Z") for e in events)
    assert timeline.json["events"][0]["tag"] == "catalog:model:created"


def test_who_may_call_the_release_endpoints(client: FlaskClient, world: World) -> None:
    world.model("acme/api", stage="research-access")
    world.model("acme/secret", stage=None)
    researcher = world.person("rita@example.org", tiers=("researcher",))
    reader = world.person("sally@example.org", roles=("safety",))  # read-scope token only
    manager = staff(world, "rick@example.org", "reviewer")
    auditor = world.person("aud@example.org", roles=("auditor",))
    outsider = staff(world, "otto@example.org")  # no role, but a manage-scope token
    writes = ("evaluations", "signoffs", "promote", "halt", "resume", "demote")
    for action in writes:
        assert client.post(f"{BASE}/{action}").status_code == 401
        r = client.post(f"{BASE}/{action}", headers=researcher.auth)
        assert r.status_code == 403, (action, r.json)
        assert client.post(f"{BASE}/{action}", headers=manager.auth).status_code == 403
        r = client.post(f"{BASE}/{action}", headers=reader.auth)
        assert r.json["error"]["code"] == "insufficient_scope"
        # An internal model answers non-staff exactly as one that does not exist.
        assert client.post(f"{BASE}/{action}", headers=outsider.auth).status_code == 403
        r = client.post(f"/api/v1/models/acme/secret/{action}", headers=outsider.auth)
        assert r.status_code == 404
        assert r.json["error"]["code"] == "not_found"
        assert (
            client.post(f"/api/v1/models/acme/nope/{action}", headers=manager.auth).status_code
            == 404
        )
    for view in ("gate", "timeline"):
        assert client.get(f"{BASE}/{view}", headers=researcher.auth).status_code == 403
        assert client.get(f"{BASE}/{view}", headers=auditor.auth).status_code == 200
        assert client.get(f"/api/v1/models/acme/secret/{view}").status_code == 401
    gate = client.get(f"{BASE}/gate", headers=auditor.auth).json
    assert gate["stage"] == "research-access"
    assert gate["next_stage"] == "general-availability"
    assert [r["key"] for r in gate["requirements"]] == [
        "evaluation:societal-impact",
        "signoffs",
        "min_days",
    ]
    assert [e.tag for e in world.events() if e.tag.startswith("release:")] == [
        str(EventTag.STAGE_PROMOTED)  # the fixture's seeding only: nothing else changed
    ]
