"""The native door end to end on the local backend, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases import services as releases
from tests.support.world import DEFAULT_FILES, World, sha256


def fetch_local(client: FlaskClient, url: str, **kw):  # type: ignore[no-untyped-def]
    return client.get(urlsplit(url).path, **kw)


def test_researcher_gets_a_link_that_serves_the_exact_bytes(client, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    alice = world.person("alice@example.org", tiers=("researcher",))
    r = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "model.safetensors"}, headers=alice.auth
    )
    assert r.status_code == 201, r.json
    body = r.json
    assert body["sha256"] == sha256(DEFAULT_FILES["model.safetensors"])
    assert body["size"] == len(DEFAULT_FILES["model.safetensors"])
    assert body["tier"] == "researcher"
    served = fetch_local(client, body["url"])
    assert served.status_code == 200
    assert sha256(served.data) == body["sha256"]
    assert "model.safetensors" in served.headers["Content-Disposition"]
    tags = [e.tag for e in world.events()]
    assert "download:link:issued" in tags
    assert "download:file:served" in tags
    issued = world.events("download:link:issued")[0]
    assert issued.actor == "alice@example.org"
    assert issued.link_id == body["link_id"]
    assert issued.sha256 == body["sha256"]
    assert issued.tier == "researcher"
    terms = json.loads(issued.data)
    assert (terms["agreement"], terms["agreement_version"]) == ("research-use", "1")


def test_range_requests_on_the_local_backend(client, world: World) -> None:
    world.model("acme/llm", stage="general-availability")
    r = client.post("/api/v1/models/acme/llm/links", json={"path": "model.safetensors"})
    part = fetch_local(client, r.json["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.data == DEFAULT_FILES["model.safetensors"][10:20]


def test_dl_link_redecides_on_every_use(client, world: World) -> None:
    model = world.model("acme/llm", stage="research-access")
    alice = world.person("alice@example.org", tiers=("researcher",))
    bob = world.person("bob@example.org", tiers=("researcher",))
    link = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=alice.auth
    ).json
    again = client.get(f"/dl/{link['link_id']}", headers=alice.auth)
    assert again.status_code == 302
    assert fetch_local(client, again.headers["Location"]).data == DEFAULT_FILES["config.json"]
    # Another user's link id is answered exactly as one that does not exist.
    assert client.get(f"/dl/{link['link_id']}", headers=bob.auth).status_code == 404
    assert client.get("/dl/not-a-real-link-id", headers=alice.auth).status_code == 404
    releases.halt(db.session, model, "leak suspected", SYSTEM)
    refused = client.get(f"/dl/{link['link_id']}", headers=alice.auth)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "halted"


@pytest.mark.parametrize("path", ["model.safetensors", "config.json", "sub/tokenizer.json"])
def test_public_download_is_anonymous_and_recorded_with_the_address(
    client, world: World, path
) -> None:
    world.model("acme/open", plan="open", stage=None)
    r = client.post("/api/v1/models/acme/open/links", json={"path": path})
    assert r.status_code == 201, r.json
    assert r.json["tier"] == "public"
    event = world.events("download:link:issued")[-1]
    assert event.actor == "anonymous"
    assert event.address == "127.0.0.1"
