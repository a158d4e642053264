"""Sharded releases end to end: a folder of safetensors shards with its
model.safetensors.index.json is published, each partner's marked copies of every shard
are prepared by jobs, the copies agree with the index (same tensors, same sizes, so
the published index stays true for every recipient), `snapshot_download` with
`allow_patterns` fetches a subset, and `distserver trace` on a folder of shards names
the recipient. The slow test does it at real size: a shard over 1 GB, published by the
CLI and copied by a worker process whose peak memory is printed."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from distserver.catalog.services import find_model
from distserver.cli import main
from distserver.extensions import db
from distserver.fingerprint import read_header
from distserver.fingerprint.models import CopyTask, FingerprintCopy
from distserver.jobs import drain
from tests.fingerprint.shards import sharded_release
from tests.hf.live import HubClient, LiveServer
from tests.jobs.support import wait_for, worker_env
from tests.support.redis_namespace import redis_settings
from tests.support.world import World, sha256

CLI = [sys.executable, "-m", "distserver.cli"]
# Runs the CLI (arguments after the file name) and writes the process's own peak resident
# set in kB to that file when it exits.
PEAK_AT_EXIT = """
import atexit, sys
from pathlib import Path
out = Path(sys.argv.pop(1))
def peak():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            out.write_text(line.split()[1])
atexit.register(peak)
from distserver.cli import main
main(args=sys.argv[1:], prog_name="distserver")
"""
MODEL = "acme/sharded"
INDEX = "model.safetensors.index.json"


def publish_folder(world: World, folder: Path) -> None:
    model = world.model(MODEL, stage="partner-preview", files={"README.md": b"# sharded\n"})
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    world.publish(model, files)


def fetch(client: Any, auth: dict[str, str], path: str) -> tuple[dict[str, Any], bytes]:
    r = client.post(f"/api/v1/models/{MODEL}/links", json={"path": path}, headers=auth)
    assert r.status_code == 201, r.json
    return r.json, client.get(urlsplit(r.json["url"]).path).get_data()


@pytest.mark.hf
def test_a_sharded_release_is_copied_per_shard_fetched_by_pattern_and_traced(
    make_app: Any, tmp_path: Path
) -> None:
    app = make_app("sqlite")
    server = LiveServer(app)
    try:
        with app.app_context():
            world = World(app, tmp_path / "src")
            folder = tmp_path / "release"
            sizes = sharded_release(folder, [6, 6, 6, 6], seed=3)
            publish_folder(world, folder)
            people = {
                name: world.person(f"{name}@example.org", tiers=("vetted_partner",))
                for name in ("alice", "bob")
            }
            drain(app)
            db.session.expire_all()
            tasks = db.session.scalars(db.select(CopyTask)).all()
            assert sorted((t.path, t.state) for t in tasks) == sorted(
                (name, "done") for name in sizes for _ in people
            )

            # Every shard's copy agrees with the published index: same header (tensor
            # names, dtypes, shapes, offsets) and the published size.
            client = app.test_client()
            index = json.loads((folder / INDEX).read_text())
            alice_dir = tmp_path / "alice"
            alice_dir.mkdir()
            for shard, size in sizes.items():
                body, data = fetch(client, people["alice"].auth, shard)
                assert body["size"] == size == len(data)
                assert body["sha256"] == sha256(data)
                original = (folder / shard).read_bytes()
                assert data != original
                got, want = read_header(io.BytesIO(data)), read_header(io.BytesIO(original))
                assert got.raw == want.raw
                assert {t.name for t in got.tensors} == {
                    name for name, where in index["weight_map"].items() if where == shard
                }
                (alice_dir / shard).write_bytes(data)
            _, served_index = fetch(client, people["alice"].auth, INDEX)
            assert json.loads(served_index) == index

            # The Hugging Face client fetches a subset by pattern: the index and two shards.
            (tmp_path / "hf-home").mkdir()
            hub = HubClient(server.url, tmp_path / "hf-home")
            wanted = ["model-00001-of-00004.safetensors", "model-00003-of-00004.safetensors"]
            out = hub.run(
                "snapshot", MODEL, token=people["bob"].token, allow_patterns=[INDEX, *wanted]
            )
            assert out["ok"], out
            assert sorted(out["files"]) == sorted([INDEX, *wanted])
            bob_copies = {
                c.path: c.copy_sha256
                for c in db.session.scalars(db.select(FingerprintCopy))
                if c.user_id == people["bob"].user.id
            }
            for shard in wanted:
                assert out["files"][shard] == bob_copies[shard]

            # `distserver trace` on the folder of alice's shards names alice only.
            result = app.test_cli_runner().invoke(main, ["trace", str(alice_dir), "--model", MODEL])
            assert result.exit_code == 0, result.output
            matches = [line for line in result.output.splitlines() if line.startswith("MATCH: ")]
            assert [m.removeprefix("MATCH: ").split("@")[0] for m in matches] == ["alice"]
    finally:
        server.stop()


def peak_rss_mb(group: int) -> float:
    """The largest peak resident set (VmHWM) among the live processes of a group."""
    peak = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != group:
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


@pytest.mark.postgres
@pytest.mark.slow
def test_a_multi_gigabyte_sharded_release_is_copied_ahead_and_links_answer_at_once(
    make_app: Any, tmp_path: Path
) -> None:
    with redis_settings() as settings:
        app = make_app("postgres", **settings)
        env = worker_env(app, settings)
        folder = tmp_path / "release"
        sizes = sharded_release(folder, [1100, 64, 64, 64], seed=7)
        largest = max(sizes.values())
        assert largest >= 1 << 30
        assert len(sizes) >= 4
        with app.app_context():
            world = World(app, tmp_path / "src")
            world.model(MODEL, stage="partner-preview", files={"README.md": b"# big\n"})
            partner = world.person("partner@example.org", tiers=("vetted_partner",))

            # `distserver models publish`, as an operator runs it; its peak memory.
            # Its own peak (VmHWM) written at exit: wait4's ru_maxrss would also count the
            # peak of this test process, which the child's exec inherits on Linux.
            peak_file = tmp_path / "publish-vmhwm"
            publisher = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    PEAK_AT_EXIT,
                    str(peak_file),
                    "models",
                    "publish",
                    MODEL,
                    str(folder),
                ],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            _, status = os.waitpid(publisher.pid, 0)
            assert publisher.stderr is not None
            assert os.waitstatus_to_exitcode(status) == 0, publisher.stderr.read()
            publish_peak = int(peak_file.read_text()) / 1024

            logs = tmp_path / "logs"
            logs.mkdir()
            worker = subprocess.Popen(
                # One copy at a time, so the peak is one copy's: a copy holds a few chunks
                # of marked tensor whatever the shard's size, and N threads hold N times
                # that (two threads peaked at 378 to 565 MB here, by how their chunks met).
                [*CLI, "jobs", "worker", "--processes", "1", "--threads", "1"],
                env=env,
                cwd=logs,
                stdout=(logs / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                started = time.monotonic()

                def all_done() -> bool:
                    db.session.rollback()
                    states = [t.state for t in db.session.scalars(db.select(CopyTask))]
                    return len(states) == len(sizes) and set(states) == {"done"}

                wait_for(all_done, timeout=600, what="every shard's copy")
                copied_in = time.monotonic() - started
                worker_peak = peak_rss_mb(worker.pid)
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)

            client = app.test_client()
            # One request for a file that is not a shard first, so the process's own
            # first-request costs (imports, connections) are not counted below.
            warm = client.post(
                f"/api/v1/models/{MODEL}/links", json={"path": INDEX}, headers=partner.auth
            )
            assert warm.status_code == 201, warm.json
            timings = {}
            for shard, size in sizes.items():
                t0 = time.perf_counter()
                r = client.post(
                    f"/api/v1/models/{MODEL}/links", json={"path": shard}, headers=partner.auth
                )
                timings[shard] = time.perf_counter() - t0
                assert r.status_code == 201, r.json
                assert r.json["size"] == size
            db.session.rollback()
            model = find_model(db.session, *MODEL.split("/"))
            assert model is not None
            copies = db.session.scalars(db.select(FingerprintCopy)).all()
            assert sorted(c.path for c in copies) == sorted(sizes)
            assert all(c.size == sizes[c.path] for c in copies)
        total_mb = sum(sizes.values()) / 2**20
        print(
            f"\nshards: {', '.join(f'{s / 2**20:.0f} MB' for s in sizes.values())}; "
            f"publish peak RSS {publish_peak:.0f} MB; copies of {total_mb:.0f} MB made in "
            f"{copied_in:.1f} s, worker peak RSS {worker_peak:.0f} MB"
        )
        took = ", ".join(f"{t * 1000:.0f} ms" for t in timings.values())
        print(f"first link request per shard: {took}")
        assert max(timings.values()) < 1.0, timings
        # Memory independent of shard size: far below the largest shard.
        assert worker_peak < largest / 2**20 / 2, worker_peak
        assert publish_peak < largest / 2**20 / 2, publish_peak
