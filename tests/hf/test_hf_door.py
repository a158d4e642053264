"""The Hugging Face door end to end: the real huggingface_hub client (a fresh process
per run) against a live loopback server, on SQLite and PostgreSQL, with the local
backend and the real S3 peer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distserver.audit.models import AuditEvent
from distserver.catalog.services import main_revision
from distserver.extensions import db
from tests.hf.live import Hub
from tests.support.world import DEFAULT_FILES, sha256

EXPECTED = {path: sha256(data) for path, data in DEFAULT_FILES.items()}


def door_of(event: AuditEvent) -> str:
    return json.loads(event.data or "{}").get("door", "")


def issued(hub: Hub) -> list[tuple[str | None, str | None, str]]:
    return [(e.path, e.actor, door_of(e)) for e in hub.world.events("download:link:issued")]


def test_snapshot_download_fetches_every_file_and_records_one_event_each(hub: Hub) -> None:
    hub.world.model("acme/llm", stage="research-access")
    alice = hub.world.person("alice@example.org", tiers=("researcher",))
    out = hub.client.run("snapshot", "acme/llm", token=alice.token)
    assert out["ok"], out
    assert out["files"] == EXPECTED
    events = issued(hub)
    assert sorted(events) == sorted((p, "alice@example.org", "hf") for p in DEFAULT_FILES)
    # A second run is served from the client's cache: nothing new is issued.
    again = hub.client.run("snapshot", "acme/llm", token=alice.token)
    assert again["ok"]
    assert again["files"] == EXPECTED
    assert len(issued(hub)) == len(DEFAULT_FILES)


def test_hf_hub_download_fetches_one_file_by_main_and_by_commit(hub: Hub) -> None:
    model = hub.world.model("acme/llm", stage="general-availability")
    old = main_revision(db.session, model).commit
    commit = hub.world.publish(model, {"config.json": b'{"hidden_size": 16}\n'})
    out = hub.client.run("file", "acme/llm", filename="config.json")
    assert out == {"ok": True, "files": {"config.json": sha256(b'{"hidden_size": 16}\n')}}
    by_commit = hub.client.run("file", "acme/llm", filename="config.json", revision=old)
    assert by_commit["files"] == {"config.json": EXPECTED["config.json"]}
    events = hub.world.events("download:link:issued")
    assert [(e.path, e.revision, e.actor) for e in events] == [
        ("config.json", commit, "anonymous"),
        ("config.json", old, "anonymous"),
    ]
    assert all(door_of(e) == "hf" for e in events)


def test_hf_download_command_works_as_the_docs_show(hub: Hub, tmp_path: Path) -> None:
    hub.world.model("acme/llm", stage="research-access")
    alice = hub.world.person("alice@example.org", tiers=("researcher",))
    target = tmp_path / "llm"
    done = hub.client.cli(
        "download", "acme/llm", "--token", alice.token, "--local-dir", str(target)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    got = {
        p.relative_to(target).as_posix(): sha256(p.read_bytes())
        for p in target.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }
    assert got == EXPECTED
    assert len(issued(hub)) == len(DEFAULT_FILES)
    # The plain form of the docs (into the cache) prints the snapshot folder.
    plain = hub.client.cli("download", "acme/llm", "config.json", "--token", alice.token, "-q")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert Path(plain.stdout.strip().splitlines()[-1]).read_bytes() == DEFAULT_FILES["config.json"]


def test_the_client_follows_tree_pages(hub2: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from distserver.hf import views

    monkeypatch.setattr(views, "TREE_PAGE_SIZE", 1)  # the live server runs in this process
    hub2.world.model("acme/llm", stage="general-availability")
    tree = hub2.client.run("tree", "acme/llm")
    assert tree["tree"] == [
        ["RepoFile", "config.json"],
        ["RepoFile", "model.safetensors"],
        ["RepoFolder", "sub"],
        ["RepoFile", "sub/tokenizer.json"],
    ]
    out = hub2.client.run("snapshot", "acme/llm")
    assert out["ok"], out
    assert out["files"] == EXPECTED, out
