"""Refusals through the native door: the right status and JSON error, a refused event
recorded, the signer never called, and nothing else changed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from distserver.access.models import Grant
from distserver.access.services import revoke_grants
from distserver.accounts.models import ApiToken
from distserver.app_runtime import current_runtime
from distserver.db import utcnow
from distserver.downloads.models import DownloadLink
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases.services import halt
from tests.support.world import World


@pytest.fixture
def signer_calls(app, monkeypatch) -> list:  # type: ignore[no-untyped-def]
    calls: list = []
    storage = current_runtime().storage
    real = storage.signed_url

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "signed_url", spy)
    return calls


def links(client, ref: str, path: str = "config.json", headers=None, **body):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/models/{ref}/links", json={"path": path, **body}, headers=headers or {}
    )


def count(model) -> int:  # type: ignore[no-untyped-def]
    return db.session.scalar(db.select(db.func.count()).select_from(model))


def test_each_refusal_has_its_code_status_and_event(client, world: World, signer_calls) -> None:
    world.model("acme/internal", stage=None)
    world.model("acme/partners", stage="partner-preview")
    model = world.model("acme/llm", stage="research-access")
    researcher = world.person("r@example.org", tiers=("researcher",))
    nobody = world.person("n@example.org")
    unsigned = world.person("u@example.org", tiers=("researcher",), accept=False)
    expired = world.person("e@example.org", tiers=("researcher",), grant_days=1)
    db.session.execute(
        db.update(Grant)
        .where(Grant.user_id == expired.user.id)
        .values(expires_at=utcnow() - timedelta(seconds=5))
    )
    db.session.commit()
    cases = [
        ("not_found", 404, links(client, "acme/missing", headers=researcher.auth)),
        ("not_found", 404, links(client, "acme/internal", headers=researcher.auth)),
        ("not_found", 404, links(client, "acme/llm", "nope.bin", headers=researcher.auth)),
        ("not_found", 404, links(client, "acme/llm", headers=researcher.auth, revision="f" * 40)),
        ("login_required", 401, links(client, "acme/llm")),
        ("stage_closed", 403, links(client, "acme/partners", headers=researcher.auth)),
        ("no_grant", 403, links(client, "acme/llm", headers=nobody.auth)),
        ("grant_expired", 403, links(client, "acme/llm", headers=expired.auth)),
        ("agreement_required", 403, links(client, "acme/llm", headers=unsigned.auth)),
    ]
    halt(db.session, model, "incident", SYSTEM)
    cases.append(("halted", 403, links(client, "acme/llm", headers=researcher.auth)))
    for code, status, r in cases:
        assert r.status_code == status, (code, r.json)
        assert r.json["error"]["code"] == code
        assert r.json["error"]["message"]
    assert signer_calls == []
    assert count(DownloadLink) == 0
    refused = world.events("download:link:refused")
    assert [e.reason for e in refused] == [c[0] for c in cases]
    print(f"\nrefusal cases tried: {len(cases)}, held: {len(cases)}")


def test_revocation_takes_effect_on_the_next_request(client, world: World) -> None:
    model = world.model("acme/llm", stage="research-access")
    r = world.person("r@example.org", tiers=("researcher",))
    first = links(client, "acme/llm", headers=r.auth)
    assert first.status_code == 201
    revoke_grants(db.session, r.user, current_runtime().tiers["researcher"], None, actor=SYSTEM)
    assert links(client, "acme/llm", headers=r.auth).json["error"]["code"] == "no_grant"
    assert client.get(f"/dl/{first.json['link_id']}", headers=r.auth).status_code == 403
    assert model.id


def test_suspended_user_is_refused(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    r = world.person("r@example.org", tiers=("researcher",))
    r.user.suspended_at = utcnow()
    db.session.commit()
    assert links(client, "acme/llm", headers=r.auth).json["error"]["code"] == "suspended"


BAD_PATHS = [
    "../etc/passwd",
    "a/../b",
    "/abs",
    "a\x00b",
    "a//b",
    "./a",
    "x" * 1100,
    "a\\b",
    "",
    "\x7f",
]


def test_bad_input_gets_a_4xx_json_error_and_changes_nothing(
    client, world: World, signer_calls
) -> None:
    world.model("acme/llm", stage="general-availability")
    r = world.person("r@example.org", tiers=("researcher",))
    before = len(world.events())
    links_url = "/api/v1/models/acme/llm/links"
    answers = [(client.post(links_url, json={"path": p}), 400, "invalid_path") for p in BAD_PATHS]
    answers += [
        (
            client.post(links_url, data="{not json", content_type="application/json"),
            400,
            "invalid_json",
        ),
        (client.post(links_url, json=["config.json"]), 400, "invalid_json"),
        (client.post(links_url, json={"path": 7}), 400, "invalid_field"),
        (
            client.post(links_url, json={"path": "config.json", "revision": ["x"]}),
            400,
            "invalid_field",
        ),
        (client.post(links_url, json={}), 400, "invalid_field"),
        (
            client.post(
                "/api/v1/models/acme/" + "n" * 200 + "/links", json={"path": "config.json"}
            ),
            400,
            "invalid_name",
        ),
        (
            client.post("/api/v1/models/\u0430cme/llm/links", json={"path": "config.json"}),
            400,
            "invalid_name",
        ),  # confusable
        (
            client.post(links_url, data="x" * 20000, content_type="application/json"),
            413,
            "too_large",
        ),
        (client.get(links_url), 405, "method_not_allowed"),
    ]
    for resp, status, code in answers:
        assert (resp.status_code, resp.is_json) == (status, True), (code, resp.data[:200])
        assert resp.json["error"]["code"] == code
        assert set(resp.json["error"]) == {"code", "message"}
        assert b"Traceback" not in resp.data
    assert [e.tag for e in world.events()[before:]] == []
    assert len(world.events()) == before
    assert signer_calls == []
    assert count(DownloadLink) == 0
    assert links(client, "acme/llm", headers=r.auth).status_code == 201


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer dst_nope", "invalid_token"),
        ("Bearer " + "dst_" + "A" * 38, "invalid_token"),
        ("Basic dXNlcjpwYXNz", "invalid_token"),
        ("Bearer ", "invalid_token"),
    ],
)
def test_wrong_tokens_are_refused_before_anything_happens(
    client, world: World, header, code
) -> None:  # type: ignore[no-untyped-def]
    world.model("acme/llm", stage="general-availability")
    before = len(world.events())
    r = links(client, "acme/llm", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.json["error"]["code"] == code
    assert len(world.events()) == before


def test_expired_and_revoked_tokens_are_refused(client, world: World) -> None:
    world.model("acme/llm", stage="general-availability")
    p = world.person("r@example.org", tiers=("researcher",))
    with time_machine.travel(utcnow() + timedelta(days=91)):
        r = links(client, "acme/llm", headers=p.auth)
    assert r.status_code == 401
    assert r.json["error"]["code"] == "token_expired"
    db.session.execute(db.update(ApiToken).values(revoked_at=utcnow()))
    db.session.commit()
    assert links(client, "acme/llm", headers=p.auth).json["error"]["code"] == "invalid_token"
