"""Refusals through the real huggingface_hub client: the client raises its own error
classes, carrying the same sentence as the native API; nothing refused is issued."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases import services as releases
from tests.hf.live import Hub

REQUEST_ID = re.compile(r"\(Request ID: [0-9a-f]{32}\)")


def native_message(hub: Hub, path: str, token: str | None = None, *, status: int) -> str:
    """What the native API says to the same caller about the same file, asked of the
    same host (a refusal's application URL names the host it was asked of), refused
    with `status`."""
    client: FlaskClient = hub.app.test_client()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = client.post(
        "/api/v1/models/acme/llm/links",
        json={"path": path},
        headers=headers,
        base_url=hub.server.url,
    )
    assert r.status_code == status, r.json
    return r.json["error"]["message"]


def raised(out: dict[str, Any], cls: str) -> str:
    assert not out["ok"], out
    assert out["error"] == cls, out
    return out["message"]


def without_request_id(message: str) -> str:
    """The client's message with the answer's own request id masked (it must be there)."""
    masked, found = REQUEST_ID.subn("(Request ID: <id>)", message)
    assert found == 1, message
    return masked


def test_gated_model_without_token_or_access_raises_gated_repo_error(hub2: Hub) -> None:
    hub2.world.model("acme/llm", stage="research-access")
    bob = hub2.world.person("bob@example.org")
    anonymous = native_message(hub2, "config.json", status=401)
    assert anonymous == "Sign in to download acme/llm."
    assert anonymous in raised(hub2.client.run("snapshot", "acme/llm"), "GatedRepoError")
    message = raised(hub2.client.run("file", "acme/llm", filename="config.json"), "GatedRepoError")
    assert anonymous in message
    assert "401" in message
    lacking = native_message(hub2, "config.json", bob.token, status=403)
    out = hub2.client.run("snapshot", "acme/llm", token=bob.token)
    assert lacking in raised(out, "GatedRepoError")
    assert "403" in out["message"]
    out = hub2.client.run("file", "acme/llm", filename="config.json", token=bob.token)
    assert lacking in raised(out, "GatedRepoError")
    assert "403" in out["message"]
    # The model itself stays visible: its card and file list are public metadata.
    info = hub2.client.run("info", "acme/llm", token=bob.token)
    assert info["ok"], info
    assert info["info"]["gated"] == "manual", info
    assert hub2.world.events("download:link:issued") == []


def test_invisible_model_is_answered_as_a_missing_one(hub2: Hub) -> None:
    hub2.world.model("acme/llm", stage=None)  # still "internal": staff only
    bob = hub2.world.person("bob@example.org", tiers=("researcher",))
    for call, extra in (("snapshot", {}), ("file", {"filename": "config.json"}), ("info", {})):
        hidden = hub2.client.run(call, "acme/llm", token=bob.token, **extra)
        ghost = hub2.client.run(call, "acme/ghost", token=bob.token, **extra)
        assert "No such model." in raised(hidden, "RepositoryNotFoundError")
        # Each answer carries its own request id (X-Request-ID, which the client prints);
        # apart from it the two refusals are the same sentence.
        assert without_request_id(raised(ghost, "RepositoryNotFoundError")) == without_request_id(
            hidden["message"]
        ).replace("acme/llm", "acme/ghost")
    # Staff who may download at any stage get it through the same door.
    admin = hub2.world.person("admin@example.org", roles=("admin",))
    assert hub2.client.run("snapshot", "acme/llm", token=admin.token)["ok"]


def test_bad_revision_and_bad_path_raise_the_matching_errors(hub2: Hub) -> None:
    hub2.world.model("acme/llm", stage="general-availability")
    out = hub2.client.run("snapshot", "acme/llm", revision="f" * 40)
    assert "acme/llm has no such revision." in raised(out, "RevisionNotFoundError")
    out = hub2.client.run("file", "acme/llm", filename="config.json", revision="v9")
    assert "acme/llm has no such revision." in raised(out, "RevisionNotFoundError")
    out = hub2.client.run("file", "acme/llm", filename="missing.bin")
    assert "acme/llm has no file 'missing.bin'." in out["message"]
    assert "EntryNotFoundError" in out["classes"], out
    assert hub2.world.events("download:link:issued") == []


def test_after_a_halt_the_next_download_is_refused(hub2: Hub, tmp_path: Path) -> None:
    model = hub2.world.model("acme/llm", stage="research-access")
    alice = hub2.world.person("alice@example.org", tiers=("researcher",))
    first = hub2.client.run("file", "acme/llm", filename="config.json", token=alice.token)
    assert first["ok"], first
    releases.halt(db.session, model, "leak", SYSTEM)
    out = hub2.client.run("file", "acme/llm", filename="model.safetensors", token=alice.token)
    assert "Distribution of acme/llm is halted." in raised(out, "GatedRepoError")
    # A snapshot whose tree the server refuses falls back to whatever the client has
    # cached (here config.json), without asking for any file; on a clean cache the
    # refusal surfaces as the error.
    fresh = replace(hub2.client, home=tmp_path / "fresh-home")
    fresh.home.mkdir()
    out = fresh.run("snapshot", "acme/llm", token=alice.token)
    assert "Distribution of acme/llm is halted." in raised(out, "GatedRepoError")
    assert [e.path for e in hub2.world.events("download:link:issued")] == ["config.json"]
