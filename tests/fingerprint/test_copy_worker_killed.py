"""A worker killed (SIGKILL) in the middle of a marked copy leaves nothing that is ever
served; once a worker runs again the copy is made whole, once. Requests during the copy
and after the kill all get 503 copy_in_preparation, never a link to a partial object."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from distserver.catalog.services import find_model
from distserver.extensions import db
from distserver.fingerprint.models import CopyTask, FingerprintCopy
from distserver.storage import RESERVED_PREFIX
from tests.fingerprint.shards import big_safetensors, rows_for
from tests.jobs.support import wait_for, worker_env
from tests.support.redis_namespace import redis_settings
from tests.support.world import World, sha256

COMMAND = [sys.executable, "-m", "distserver.cli", "jobs", "worker"]
MODEL = "acme/big"
WEIGHTS = "model.safetensors"


def worker(env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """`distserver jobs worker` in a session of its own, so that the supervisor and its
    worker process can be killed together."""
    return subprocess.Popen(
        [*COMMAND, "--processes", "1", "--threads", "2"],
        env=env,
        cwd=logs,
        stdout=(logs / "worker.log").open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_killed_mid_copy_leaves_nothing_served_and_the_copy_is_made_once(
    make_app: Any, tmp_path: Path
) -> None:
    with redis_settings() as settings:
        app = make_app("postgres", **settings, FINGERPRINT_COPY_STALE_SECONDS=3)
        env = worker_env(app, settings, FINGERPRINT_COPY_STALE_SECONDS="3")
        root = Path(app.instance_path) / "blobs"  # the local backend's, shared with the worker
        with app.app_context():
            world = World(app, tmp_path / "src")
            source = tmp_path / "weights.safetensors"
            size = big_safetensors(source, [("model.layers.0.mlp.up_proj.weight", rows_for(500))])
            model = world.model(
                MODEL, stage="partner-preview", files={WEIGHTS: source.read_bytes()}
            )
            source.unlink()
            alice = world.person("alice@example.org", tiers=("vetted_partner",))
            client = app.test_client()
            answers: list[int] = []
            stop = threading.Event()

            def ask() -> None:  # a partner who keeps asking while the copy is made
                own = app.test_client()
                while not stop.is_set():
                    r = own.post(
                        f"/api/v1/models/{MODEL}/links", json={"path": WEIGHTS}, headers=alice.auth
                    )
                    answers.append(r.status_code)
                    if r.status_code != 503:
                        return
                    time.sleep(0.2)

            def task() -> CopyTask | None:
                db.session.rollback()
                return db.session.scalars(db.select(CopyTask)).first()

            logs = tmp_path / "logs"
            logs.mkdir()
            first = worker(env, logs)
            asker = threading.Thread(target=ask)
            try:
                asker.start()
                halfway = wait_for(
                    lambda: (t := task()) and t.state == "running" and 0 < t.bytes_done < size,
                    timeout=240,
                    what="the copy to be under way",
                )
                assert halfway
                os.killpg(first.pid, signal.SIGKILL)
                first.wait(30)
                stop.set()
                asker.join(30)
            finally:
                stop.set()
                if first.poll() is None:
                    os.killpg(first.pid, signal.SIGKILL)
            assert answers, answers
            assert set(answers) == {503}, answers
            killed = task()
            assert killed is not None
            assert killed.state == "running"
            assert killed.bytes_done < size
            print(f"\nkilled the worker at {killed.bytes_done / size:.0%} of the copy")
            db.session.rollback()
            assert db.session.scalars(db.select(FingerprintCopy)).all() == []
            copies_dir = root / "copies"
            finished = (
                [p for p in copies_dir.rglob("*") if p.is_file()] if copies_dir.exists() else []
            )
            assert all(p.name.startswith(RESERVED_PREFIX) for p in finished), finished

            # The dead worker's task goes quiet; a request re-queues it and a new worker
            # makes it.
            time.sleep(4)
            r = client.post(
                f"/api/v1/models/{MODEL}/links", json={"path": WEIGHTS}, headers=alice.auth
            )
            assert r.status_code == 503
            assert r.json["error"]["code"] == "copy_in_preparation"
            second = worker(env, logs)
            try:
                wait_for(lambda: (t := task()) and t.state == "done", timeout=300, what="the copy")
                done = task()
                assert done is not None
                assert done.attempts >= 2
                r = client.post(
                    f"/api/v1/models/{MODEL}/links", json={"path": WEIGHTS}, headers=alice.auth
                )
                assert r.status_code == 201, r.json
                served = client.get(urlsplit(r.json["url"]).path)
                assert served.status_code == 200
                data = served.get_data()
                assert len(data) == size == r.json["size"]
                assert sha256(data) == r.json["sha256"]
                db.session.rollback()
                (row,) = db.session.scalars(db.select(FingerprintCopy)).all()
                assert row.copy_sha256 == r.json["sha256"]
                assert row.removed_at is None
                published = find_model(db.session, *MODEL.split("/"))
                assert published is not None
                assert published.id == model.id
                assert row.original_sha256 != row.copy_sha256
            finally:
                os.killpg(second.pid, signal.SIGTERM)
                try:
                    second.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(second.pid, signal.SIGKILL)
            objects = [p for p in copies_dir.rglob("*") if p.is_file()]
            assert [p for p in objects if not p.name.startswith(RESERVED_PREFIX)] == [
                root / row.storage_key
            ]
