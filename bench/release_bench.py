"""The `publish` and `snapshot` benchmarks (docs/benchmarks.md), on the parts production
runs on (bench/stack.py): the S3 peer (`rclone serve s3`), a fresh PostgreSQL database
and the production settings; `snapshot` also runs the app under gunicorn with the
deployment's settings (docker/gunicorn.conf.py).

- publish: `distserver models publish` of a directory (a few large files, many small
  ones) against `rclone copy` of the same directory to the same peer, in the same run;
  the goal is publish >= 0.8 x rclone's throughput.
- snapshot: `huggingface_hub.snapshot_download` of a 50-file model through the server
  (Hugging Face door, each file a 302 to a presigned S3 URL) against presigned GETs of
  the same 50 objects straight from S3 with the same parallelism (8), each written to a
  file as a download is; the goal is at most 10 ms added per file. Both are timed inside
  their own client process, around the downloads only, after one untimed round of each
  (warm connection pools and caches, as a running deployment has), then alternated.

    .venv/bin/python -m bench publish [--megabytes 2048] [--rounds 1]
    .venv/bin/python -m bench snapshot [--files 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.cpu import process_ticks, seconds_between, worker_ticks
from bench.stack import (
    BenchError,
    Stack,
    run_cli,
    run_timed,
    say,
    seeding_app,
    start_gunicorn,
    start_stack,
    stopped,
)

MODEL = "bench/release"
QUOTA = {"researcher": {"daily_quota": 100_000_000}}


def _directory(root: Path, megabytes: float) -> int:
    """Three large files holding ~90 % of the bytes, and 200 small ones."""
    root.mkdir()
    small = 200
    small_size = max(1, int(megabytes * 0.1 * 2**20 / small))
    large_size = int(megabytes * 0.9 * 2**20 / 3)
    block = os.urandom(1 << 20)
    for i in range(3):
        with (root / f"model-{i + 1:05d}-of-00003.safetensors").open("wb") as out:
            left = large_size
            while left > 0:
                part = block[: min(left, len(block))]
                out.write(bytes([i]) + part[1:])  # distinct files, distinct blobs
                left -= len(part)
                block = block[1:] + block[:1]
    for i in range(small):
        (root / "extra" / f"{i:03d}.bin").parent.mkdir(exist_ok=True)
        (root / "extra" / f"{i:03d}.bin").write_bytes(os.urandom(small_size))
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _rclone(stack: Stack, source: Path, prefix: str) -> float:
    from tests.support.s3peer import find_rclone

    peer = stack.peer
    conf = stack.tmp / "rclone.conf"
    conf.write_text(
        "[peer]\ntype = s3\nprovider = Other\n"
        f"access_key_id = {peer.access_key}\nsecret_access_key = {peer.secret_key}\n"
        f"endpoint = {peer.endpoint_url}\nregion = us-east-1\n"
    )
    command = [find_rclone(), "--config", str(conf), "copy", str(source)]
    return run_timed([*command, f"peer:{peer.bucket}/{prefix}"], stack.env, "rclone copy")


def publish_bench(stack: Stack, megabytes: float, rounds: int) -> dict[str, str]:
    source = stack.tmp / "release"
    say(f"writing a {megabytes:g} MB directory")
    total = _directory(source, megabytes)
    mb = total / 2**20
    rclone_s: list[float] = []
    publish_s: list[float] = []
    # CPU seconds summed over the rounds: the S3 peer's, and the client's own.
    cpu = {"rclone": [0.0, 0.0], "publish": [0.0, 0.0]}
    for n in range(rounds):
        # Every round publishes the same bytes anew: a fresh model, an empty journal.
        model = f"{MODEL}-{n}"
        run_cli(["models", "create", model], stack.env)
        journal = Path(stack.settings["INSTANCE_DIR"]) / "publish-journal.json"
        journal.unlink(missing_ok=True)
        _wipe_blobs(stack)
        say(f"round {n + 1}/{rounds}: rclone copy")
        with _cpu_into(stack, cpu["rclone"]):
            rclone_s.append(_rclone(stack, source, f"rclone-copy-{n}"))
        say(f"round {n + 1}/{rounds}: distserver models publish")
        with _cpu_into(stack, cpu["publish"]):
            publish_s.append(run_cli(["models", "publish", model, str(source)], stack.env, 3600))
    rclone, publish = statistics.median(rclone_s), statistics.median(publish_s)
    ratio = rclone / publish
    print(f"publish of {mb:.0f} MB (3 large files, 200 small) to the S3 peer, median of {rounds}")
    print(f"  {'rclone copy':<26} {rclone:7.1f} s  {mb / rclone:7.1f} MB/s")
    print(f"  {'distserver models publish':<26} {publish:7.1f} s  {mb / publish:7.1f} MB/s")
    print(f"  ratio {ratio:.2f} (goal >= 0.8): {'met' if ratio >= 0.8 else 'NOT met'}")
    for name, (peer_cpu, client_cpu) in cpu.items():
        print(f"  CPU over the rounds, {name}: S3 peer {peer_cpu:.1f} s, client {client_cpu:.1f} s")
    return {
        "rclone_peer_cpu_s": f"{cpu['rclone'][0]:.1f}",
        "publish_peer_cpu_s": f"{cpu['publish'][0]:.1f}",
        "rclone_client_cpu_s": f"{cpu['rclone'][1]:.1f}",
        "publish_client_cpu_s": f"{cpu['publish'][1]:.1f}",
        "publish_mb_s": f"{mb / publish:.1f}",
        "rclone_mb_s": f"{mb / rclone:.1f}",
        "publish_ratio": f"{ratio:.2f}",
        "publish_goal_met": str(int(ratio >= 0.8)),
    }


@contextlib.contextmanager
def _cpu_into(stack: Stack, totals: list[float]) -> Iterator[None]:
    """Add the CPU seconds the S3 peer and this process's finished children (the client
    run inside the block) spent in the block to `totals` ([peer, client])."""
    peer = stack.peer.process
    pids = [peer.pid] if peer is not None else []
    before, children = process_ticks(pids), resource.getrusage(resource.RUSAGE_CHILDREN)
    yield
    after, done = process_ticks(pids), resource.getrusage(resource.RUSAGE_CHILDREN)
    totals[0] += seconds_between(before, after)
    totals[1] += done.ru_utime + done.ru_stime - children.ru_utime - children.ru_stime


def _wipe_blobs(stack: Stack) -> None:
    """Remove the blobs an earlier round stored, so each round uploads every byte."""
    client = stack.peer.client()
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=stack.peer.bucket, Prefix="blobs/"
    )
    for page in pages:
        for item in page.get("Contents", []):
            client.delete_object(Bucket=stack.peer.bucket, Key=item["Key"])


SNAPSHOT = """
import json, sys, time
from huggingface_hub import snapshot_download
t0, c0 = time.perf_counter(), time.process_time()
snapshot_download(sys.argv[1], token=sys.argv[2], max_workers=8)
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""
DIRECT = """
import json, os, sys, time
from concurrent.futures import ThreadPoolExecutor
import requests
urls = json.loads(sys.stdin.read())
folder = sys.argv[1]
os.makedirs(folder, exist_ok=True)
session = requests.Session()
session.trust_env = False
def get(item):
    n, url = item
    r = session.get(url, timeout=60)
    r.raise_for_status()
    with open(os.path.join(folder, str(n)), "wb") as out:
        out.write(r.content)
t0, c0 = time.perf_counter(), time.process_time()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(get, enumerate(urls)))
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0}))
"""


def _client(
    code: str, args: list[str], env: dict[str, str], stdin: str = ""
) -> tuple[float, float]:
    """Run a client; (wall seconds, its own CPU seconds) around its downloads."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"the client failed:\n{done.stderr[-2000:]}")
    timed = json.loads(done.stdout.strip().splitlines()[-1])
    return float(timed["seconds"]), float(timed["cpu"])


def _seed_snapshot(stack: Stack, files: int, base_url: str) -> tuple[str, list[str]]:
    """The model (64 KB files) and one researcher; (token, presigned URLs of the files)."""
    from distserver.extensions import db
    from distserver.storage.base import blob_key
    from tests.support.world import World

    app = seeding_app(stack.settings)
    with app.app_context():
        world = World(app, stack.tmp / "sources")
        content = {f"part-{i:03d}.bin": os.urandom(64 * 1024) for i in range(files)}
        world.model(MODEL, stage="general-availability", files=content)
        person = world.person("bench@example.org", tiers=("researcher",))
        urls = [
            world.rt.storage.signed_url(
                blob_key(hashlib.sha256(data).hexdigest()),
                ttl=900,
                filename=path,
                base_url=base_url,
            )
            for path, data in content.items()
        ]
        db.session.remove()
        db.engine.dispose()
    return person.token, urls


def snapshot_bench(
    stack: Stack, cleanup: contextlib.ExitStack, files: int, rounds: int
) -> dict[str, str]:
    from tests.hf.live import FOREIGN_ENV

    say(f"seeding {MODEL} ({files} files) and a researcher")
    token, urls = _seed_snapshot(stack, files, "http://127.0.0.1/")
    say("starting gunicorn for the app")
    app = start_gunicorn(cleanup, "app", "wsgi:app", stack.env, stack.tmp)
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env.update(
        HF_ENDPOINT=app.url,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )

    def through(n: str) -> tuple[float, float]:
        return _client(SNAPSHOT, [MODEL, token], {**env, "HF_HOME": str(stack.tmp / f"hf-{n}")})

    def direct(n: str) -> tuple[float, float]:
        return _client(DIRECT, [str(stack.tmp / f"direct-{n}")], env, json.dumps(urls))

    say("one untimed round of each (warm-up)")
    direct("warm")
    through("warm")
    direct_runs: list[tuple[float, float]] = []
    through_runs: list[tuple[float, float]] = []
    worker_cpu = 0.0
    for n in range(rounds):  # alternated against drift
        say(f"round {n + 1}/{rounds}")
        direct_runs.append(direct(str(n)))
        ticks = worker_ticks(app.process.pid)
        through_runs.append(through(str(n)))
        worker_cpu += seconds_between(ticks, worker_ticks(app.process.pid))
    direct_s = [r[0] for r in direct_runs]
    through_s = [r[0] for r in through_runs]
    if app.process.poll() is not None:
        raise BenchError(f"the app's gunicorn died:\n{app.log_tail()}")
    d, t = statistics.median(direct_s), statistics.median(through_s)
    added_ms = (t - d) / files * 1000
    per_file = 1000 / (rounds * files)
    cpu_ms = worker_cpu * per_file
    direct_cpu_ms = sum(r[1] for r in direct_runs) * per_file
    client_cpu_ms = sum(r[1] for r in through_runs) * per_file
    print(f"snapshot of a {files}-file model (64 KB each), median of {rounds} rounds")
    print(f"  {'presigned GETs from S3':<28} {d:7.2f} s  ({_spread(direct_s)})")
    print(f"  {'snapshot_download (gunicorn)':<28} {t:7.2f} s  ({_spread(through_s)})")
    print(f"  CPU per file: app workers {cpu_ms:.2f} ms, snapshot_download's client")
    print(f"  {client_cpu_ms:.2f} ms, the direct client {direct_cpu_ms:.2f} ms")
    met = added_ms <= 10
    print(f"  added per file {added_ms:.1f} ms (goal <= 10): {'met' if met else 'NOT met'}")
    return {
        "snapshot_s": f"{t:.3f}",
        "direct_s": f"{d:.3f}",
        "added_ms_per_file": f"{added_ms:.1f}",
        "app_cpu_ms_per_file": f"{cpu_ms:.2f}",
        "hf_client_cpu_ms_per_file": f"{client_cpu_ms:.2f}",
        "direct_client_cpu_ms_per_file": f"{direct_cpu_ms:.2f}",
        "snapshot_goal_met": str(int(met)),
    }


def _spread(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench publish|snapshot")
    parser.add_argument("benchmark", choices=["publish", "snapshot"])
    parser.add_argument("--megabytes", type=float, default=2048, help="publish: directory size")
    parser.add_argument("--files", type=int, default=50, help="snapshot: files in the model")
    parser.add_argument("--rounds", type=int, default=None, help="publish 1, snapshot 3")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.benchmark == "publish" else 3)
    if not 1 <= rounds <= 20:
        parser.error("--rounds must be between 1 and 20")

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        with contextlib.ExitStack() as cleanup:
            stack = start_stack(cleanup, tiers=QUOTA)
            if args.benchmark == "publish":
                pairs = publish_bench(stack, args.megabytes, rounds)
            else:
                pairs = snapshot_bench(stack, cleanup, args.files, rounds)
            say("cleaning up")
    except (BenchError, KeyboardInterrupt) as exc:
        return stopped(exc)
    pairs["load"] = f"{os.getloadavg()[0]:.2f}"
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
