"""Marked copies are prepared by jobs before anyone asks; a request never makes one.
Until a copy is ready each door answers as documented: the native API 503 with
Retry-After, code copy_in_preparation and the progress; the web page "being prepared,
about N minutes"; the Hugging Face door a 503 with Retry-After, which the real
huggingface_hub client waits on (it succeeds once the copy is made, or fails with our
sentence), never a timeout or a wrong file."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from distserver.catalog.services import find_model
from distserver.extensions import db
from distserver.fingerprint.models import CopyTask, FingerprintCopy
from distserver.jobs import drain, job_runtime
from tests.accounts.helpers import PASSWORD, csrf, sign_in
from tests.fingerprint.test_integration import (
    CONFIG,
    MODEL,
    WEIGHTS,
    download,
    link,
    publish_model,
    synthetic_weights,
)
from tests.hf.live import HubClient, LiveServer
from tests.jobs.support import wait_for
from tests.support.world import World, sha256


def hold_jobs(app: Flask) -> None:
    """Stop the app's in-process worker and keep it stopped: jobs stay queued."""
    runtime = job_runtime(app)
    runtime.stop()
    runtime._start_worker = lambda: None  # type: ignore[method-assign]


def release_jobs(app: Flask) -> None:
    runtime = job_runtime(app)
    del runtime._start_worker
    runtime._start_worker()


def tasks() -> list[CopyTask]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(CopyTask).order_by(CopyTask.id)))


def copies() -> list[FingerprintCopy]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(FingerprintCopy)))


def test_a_grant_prepares_the_copy_and_the_api_answers_503_until_it_is_ready(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app("sqlite")
    with app.app_context():
        world = World(app, tmp_path / "src")
        hold_jobs(app)
        original = publish_model(world, tmp_path)
        alice = world.person("alice@example.org", tiers=("vetted_partner",))
        client = app.test_client()

        r = client.post(f"/api/v1/models/{MODEL}/links", json={"path": WEIGHTS}, headers=alice.auth)
        assert r.status_code == 503, r.json
        assert 1 <= int(r.headers["Retry-After"]) <= 30
        error = r.json["error"]
        assert error["code"] == "copy_in_preparation"
        assert "is being prepared" in error["message"]
        assert "minute" in error["message"]
        assert error["progress"]["state"] == "pending"
        assert error["progress"]["bytes_done"] == 0
        assert error["progress"]["size"] == len(original)
        # Nothing was made, counted or recorded as issued by the request.
        assert copies() == []
        assert [e for e in world.events("download:link:issued") if e.path == WEIGHTS] == []
        # Files with nothing to mark are served at once.
        _, config = download(client, alice.auth, "config.json")
        assert config == CONFIG
        # Staff see the copy pending, per model and recipient.
        staff = world.person("safety@example.org", roles=("safety",))
        report = client.get(f"/api/v1/models/{MODEL}/copies", headers=staff.auth).json
        assert report["total_copy_bytes"] == 0
        assert [(p["user"], p["path"], p["state"]) for p in report["pending"]] == [
            ("alice@example.org", WEIGHTS, "pending")
        ]
        assert report["recipients"] == [
            {"user": "alice@example.org", "copies": 0, "copy_bytes": 0, "pending": 1,
             "pending_bytes": len(original)}
        ]  # fmt: skip

        release_jobs(app)
        drain(app)
        (task,) = tasks()
        assert task.state == "done"
        assert task.bytes_done == task.size == len(original)
        assert task.user_id == alice.user.id
        assert task.attempts == 1
        body, data = download(client, alice.auth, WEIGHTS)
        assert body["sha256"] == sha256(data) != sha256(original)
        assert len(copies()) == 1


def test_the_web_page_says_the_copy_is_being_prepared(make_app: Any, tmp_path: Path) -> None:
    app = make_app("sqlite")
    with app.app_context():
        world = World(app, tmp_path / "src")
        hold_jobs(app)
        publish_model(world, tmp_path)
        world.person("alice@example.org", tiers=("vetted_partner",), password=PASSWORD)
        client = app.test_client()
        assert sign_in(client, "alice@example.org").status_code == 302
        token = csrf(client, f"/models/{MODEL}")
        response = client.post(
            f"/models/{MODEL}/download", data={"csrf_token": token, "path": WEIGHTS}
        )
        assert response.status_code == 302
        assert f"/models/{MODEL}" in response.location
        page = client.get(response.location).get_data(as_text=True)
        assert "is being prepared" in page
        assert "about 1 minute" in page
        assert copies() == []


@pytest.mark.hf
def test_the_hugging_face_client_waits_for_the_copy_then_gets_it(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app("sqlite", FINGERPRINT_COPY_RETRY_AFTER_MAX=1)
    server = LiveServer(app)
    try:
        with app.app_context():
            world = World(app, tmp_path / "src")
            hold_jobs(app)
            original = publish_model(world, tmp_path)
            alice = world.person("alice@example.org", tiers=("vetted_partner",))
            (tmp_path / "hf-home").mkdir()
            hub = HubClient(server.url, tmp_path / "hf-home")
            result: dict[str, Any] = {}
            run = threading.Thread(
                target=lambda: result.update(hub.run("snapshot", MODEL, token=alice.token))
            )
            run.start()
            # The client's HEAD was answered 503 (the door queued the copy), and it waits.
            wait_for(tasks, timeout=60, what="the client's first request")
            release_jobs(app)
            run.join(120)
            assert result.get("ok"), result
            got = result["files"][WEIGHTS]
            (made,) = copies()
            assert got == made.copy_sha256 != sha256(original)
            assert result["files"]["config.json"] == sha256(CONFIG)
    finally:
        server.stop()


@pytest.mark.hf
def test_the_hugging_face_client_gives_up_with_our_sentence(make_app: Any, tmp_path: Path) -> None:
    app = make_app("sqlite", FINGERPRINT_COPY_RETRY_AFTER_MAX=1)
    server = LiveServer(app)
    try:
        with app.app_context():
            world = World(app, tmp_path / "src")
            hold_jobs(app)
            publish_model(world, tmp_path)
            alice = world.person("alice@example.org", tiers=("vetted_partner",))
            (tmp_path / "hf-home").mkdir()
            hub = HubClient(server.url, tmp_path / "hf-home")
            out = hub.run("file", MODEL, filename=WEIGHTS, token=alice.token)
            # After its retries (Retry-After + 1 s apart) the client raises its "cannot
            # locate the file" error from the server's 503, whose text is our sentence:
            # both are printed in the traceback the person sees.
            assert not out["ok"], out
            assert out["error"] == "LocalEntryNotFoundError", out
            assert "503" in out["cause"], out
            assert "is being prepared" in out["cause"], out
            assert not list((tmp_path / "hf-home").rglob(WEIGHTS))  # no file, not a partial one
            assert copies() == []
    finally:
        server.stop()


def test_copies_of_a_new_revision_are_prepared_for_current_recipients(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app("sqlite")
    with app.app_context():
        world = World(app, tmp_path / "src")
        publish_model(world, tmp_path)
        alice = world.person("alice@example.org", tiers=("vetted_partner",))
        drain(app)
        assert len(copies()) == 1
        acme = find_model(db.session, *MODEL.split("/"))
        assert acme is not None
        new_weights = synthetic_weights(tmp_path / "v2.safetensors", seed=12)
        world.publish(acme, {WEIGHTS: new_weights, "config.json": CONFIG})
        drain(app)
        made = {c.original_sha256 for c in copies() if c.user_id == alice.user.id}
        assert sha256(new_weights) in made
        body = link(app.test_client(), alice.auth, WEIGHTS)
        assert body["size"] == len(new_weights)


def test_an_organisation_member_gets_copies_once_the_agreements_are_signed(
    make_app: Any, tmp_path: Path
) -> None:
    from distserver.access.organizations import add_member, create_org, sign_agreement
    from distserver.access.services import accept_agreement
    from distserver.accounts.services import principal_for
    from distserver.identity import SYSTEM

    app = make_app("sqlite")
    with app.app_context():
        world = World(app, tmp_path / "src")
        publish_model(world, tmp_path)
        tier = world.rt.tiers["vetted_partner"]
        member = world.person("m@example.org")
        org = create_org(db.session, "lab", "Partner Lab", tier, SYSTEM)
        add_member(db.session, org, member.user, SYSTEM)
        drain(app)
        assert copies() == []  # no standing yet: neither agreement is signed
        sign_agreement(db.session, org, tier, signed_by="Lab Director", actor=SYSTEM)
        drain(app)
        assert copies() == []  # the member has not accepted the partner agreement
        accept_agreement(db.session, member.user, tier, principal_for(member.user, "test"))
        drain(app)
        (made,) = copies()
        assert made.user_id == member.user.id
        assert made.tier == "vetted_partner"
        body = link(app.test_client(), member.auth, WEIGHTS)
        assert body["sha256"] == made.copy_sha256
