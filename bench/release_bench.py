"""The `publish` and `snapshot` benchmarks (docs/benchmarks.md), on the S3 peer
(`rclone serve s3`) and a SQLite database in a temporary folder.

- publish: `distserver models publish` of a directory (a few large files, many small
  ones) against `rclone copy` of the same directory to the same peer, in the same run;
  the goal is publish >= 0.8 x rclone's throughput.
- snapshot: `huggingface_hub.snapshot_download` of a 50-file model through the server
  (Hugging Face door, each file a 302 to a presigned S3 URL) against presigned GETs of
  the same 50 objects straight from S3 with the same parallelism (8); the goal is at
  most 10 ms added per file. Both are timed inside their own client process, around
  the downloads only.

    .venv/bin/python -m bench publish [--megabytes 2048]
    .venv/bin/python -m bench snapshot [--files 50]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.databases import TEST_SECRET
from tests.support.s3peer import S3Peer, S3PeerUnavailable, find_rclone, start_s3_peer

MODEL = "bench/release"
BIN = Path(sys.executable).parent


def _settings(tmp: Path, peer: S3Peer) -> dict[str, Any]:
    return {
        "ENV": "testing",
        "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "INSTANCE_DIR": str(tmp / "instance"),
        "SECRET_KEY": TEST_SECRET,
        "STORAGE": "s3",
        "S3_BUCKET": peer.bucket,
        "S3_ENDPOINT_URL": peer.endpoint_url,
    }


def _env(settings: dict[str, Any], peer: S3Peer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISTSERVER_", "RCLONE_"))}
    env.update({f"DISTSERVER_{k}": str(v) for k, v in settings.items()})
    env.update(peer.env())
    return env


def _run(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[:4])} failed:\n{done.stderr[-2000:]}")
    return took


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


def publish_bench(tmp: Path, peer: S3Peer, megabytes: float) -> dict[str, str]:
    settings = _settings(tmp, peer)
    env = _env(settings, peer)
    source = tmp / "release"
    total = _directory(source, megabytes)
    distserver = str(BIN / "distserver")
    _run([distserver, "db", "upgrade"], env, tmp)
    _run([distserver, "models", "create", MODEL], env, tmp)
    conf = tmp / "rclone.conf"
    conf.write_text(
        "[peer]\ntype = s3\nprovider = Other\n"
        f"access_key_id = {peer.access_key}\nsecret_access_key = {peer.secret_key}\n"
        f"endpoint = {peer.endpoint_url}\nregion = us-east-1\n"
    )
    rclone = [find_rclone(), "--config", str(conf), "copy", str(source)]
    rclone_s = _run([*rclone, f"peer:{peer.bucket}/rclone-copy"], env, tmp)
    publish_s = _run([distserver, "models", "publish", MODEL, str(source)], env, tmp)
    mb = total / 2**20
    ratio = (mb / publish_s) / (mb / rclone_s)
    print(f"publish of {mb:.0f} MB (3 large files, 200 small) to the S3 peer")
    print(f"  {'rclone copy':<26} {rclone_s:7.1f} s  {mb / rclone_s:7.1f} MB/s")
    print(f"  {'distserver models publish':<26} {publish_s:7.1f} s  {mb / publish_s:7.1f} MB/s")
    print(f"  ratio {ratio:.2f} (goal >= 0.8)")
    return {
        "publish_mb_s": f"{mb / publish_s:.1f}",
        "rclone_mb_s": f"{mb / rclone_s:.1f}",
        "publish_ratio": f"{ratio:.2f}",
    }


SNAPSHOT = """
import json, sys, time
from huggingface_hub import snapshot_download
t0 = time.perf_counter()
snapshot_download(sys.argv[1], token=sys.argv[2], max_workers=8)
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""
DIRECT = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import requests
urls = json.loads(sys.stdin.read())
session = requests.Session()
session.trust_env = False
def get(url):
    r = session.get(url, timeout=60)
    r.raise_for_status()
    return len(r.content)
t0 = time.perf_counter()
with ThreadPoolExecutor(8) as pool:
    list(pool.map(get, urls))
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def _client(code: str, args: list[str], env: dict[str, str], stdin: str = "") -> float:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"error: the client failed:\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def snapshot_bench(tmp: Path, peer: S3Peer, files: int) -> dict[str, str]:
    from distserver import create_app
    from distserver.extensions import db
    from distserver.storage.base import blob_key
    from tests.hf.live import FOREIGN_ENV, LiveServer
    from tests.support.world import World

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log lines
    settings = _settings(tmp, peer)
    os.environ.update(peer.env())
    _run([str(BIN / "distserver"), "db", "upgrade"], _env(settings, peer), tmp)
    app = create_app(settings)
    server = LiveServer(app)
    try:
        with app.app_context():
            world = World(app, tmp / "sources")
            content = {f"part-{i:03d}.bin": os.urandom(64 * 1024) for i in range(files)}
            model = world.model(MODEL, stage="general-availability", files=content)
            assert model is not None
            person = world.person("bench@example.org", tiers=("researcher",))
            storage = world.rt.storage
            urls = [
                storage.signed_url(
                    blob_key(hashlib.sha256(data).hexdigest()),
                    ttl=600,
                    filename=path,
                    base_url=server.url + "/",
                )
                for path, data in content.items()
            ]
            db.session.remove()
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        env.update(
            HF_ENDPOINT=server.url,
            HF_HOME=str(tmp / "hf-home"),
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            NO_PROXY="127.0.0.1",
            no_proxy="127.0.0.1",
        )
        direct = _client(DIRECT, [], env, json.dumps(urls))
        through = _client(SNAPSHOT, [MODEL, person.token], env)
    finally:
        server.stop()
    added_ms = (through - direct) / files * 1000
    print(f"snapshot of a {files}-file model (64 KB each) through the server")
    print(f"  {'presigned GETs from S3':<28} {direct:7.2f} s")
    print(f"  {'snapshot_download':<28} {through:7.2f} s")
    print(f"  added per file {added_ms:.1f} ms (goal <= 10)")
    return {
        "snapshot_s": f"{through:.2f}",
        "direct_s": f"{direct:.2f}",
        "added_ms_per_file": f"{added_ms:.1f}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench publish|snapshot")
    parser.add_argument("benchmark", choices=["publish", "snapshot"])
    parser.add_argument("--megabytes", type=float, default=2048, help="publish: directory size")
    parser.add_argument("--files", type=int, default=50, help="snapshot: files in the model")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="release-bench-") as name:
        tmp = Path(name)
        try:
            peer = start_s3_peer(tmp / "s3")
        except S3PeerUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        try:
            if args.benchmark == "publish":
                pairs = publish_bench(tmp, peer, args.megabytes)
            else:
                pairs = snapshot_bench(tmp, peer, args.files)
        finally:
            peer.stop()
    pairs["load"] = f"{os.getloadavg()[0]:.2f}"
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
