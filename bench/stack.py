"""The parts a benchmark runs the app on, as production runs it: the S3 peer (`rclone
serve s3`), a fresh PostgreSQL database migrated with `distserver db upgrade`, the
production settings (keys of its own, S3 storage, the fast path), and gunicorn with the
deployment's settings (docker/gunicorn.conf.py). Shared by the links, resolve, publish
and snapshot benchmarks.

`start_stack` registers every part's removal on the caller's ExitStack, so whatever
happens (an error, Ctrl-C) the peer, the database and the temporary folder go away.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.load import HOST

PROJECT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
WORKERS, THREADS = 2, 4  # the gunicorn settings of every server a benchmark starts


class BenchError(RuntimeError):
    """A benchmark could not be set up or run; the message says which part."""


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, lines: int = 25) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    """What `start_stack` started. `settings` are the app's (without the DISTSERVER_
    prefix), `env` a process environment carrying them and the peer's credentials."""

    tmp: Path
    peer: Any  # tests.support.s3peer.S3Peer
    db_url: str  # postgresql://..., for psycopg
    settings: dict[str, str]
    env: dict[str, str]


def stopped(exc: BenchError | KeyboardInterrupt) -> int:
    """One line on stderr for a benchmark that stopped early, and its exit code: 1 for a
    failure, 130 for an interrupt (whatever was started has been stopped by then)."""
    if isinstance(exc, KeyboardInterrupt):
        print("interrupted; everything started was stopped and removed", file=sys.stderr)
        return 130
    print(f"error: {exc}", file=sys.stderr)
    return 1


def say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def create_database(name: str) -> str:
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchError(
            "PostgreSQL is needed at 127.0.0.1:5432 (trust auth, user postgres) and did not "
            f"answer: {exc}"
        ) from exc
    return f"{PG_SERVER}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"no {name!r} next to {sys.executable} nor on PATH (install the project)")
    return found


def clean_env() -> dict[str, str]:
    drop = ("DISTSERVER_", "AWS_", "GUNICORN_", "BENCH_", "RCLONE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _audit_key(tmp: Path) -> Path:
    """A throw-away Ed25519 audit signing key (production needs a configured one)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = tmp / "audit-signing-key.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return path


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> float:
    """Run `distserver ARGS` with `env`; its wall time in seconds. BenchError (with the
    end of its stderr) if it fails."""
    return run_timed([tool("distserver"), *args], env, f"distserver {' '.join(args[:3])}", timeout)


def run_timed(command: list[str], env: dict[str, str], what: str, timeout: float = 300) -> float:
    """Run `command` with `env` from the project's folder; its wall time in seconds.
    BenchError naming `what` (with the end of its stderr) if it fails."""
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=PROJECT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"`{what}` failed:\n{done.stderr[-2000:]}")
    return took


def _restore_env(saved: dict[str, str | None]) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        os.environ.pop(key, None)
    for key, value in saved.items():
        if value is not None:
            os.environ[key] = value


def start_stack(
    cleanup: contextlib.ExitStack,
    *,
    tiers: dict[str, dict[str, object]],
    fast_path: bool = True,
    facts_cache: bool = True,
) -> Stack:
    """A temporary folder, the S3 peer, a migrated PostgreSQL database and the app's
    production settings (`tiers`: changes to the project's tiers, see
    tests/support/tiers.py). This process's environment gets the peer's credentials
    (boto3's chain, for seeding from here) until `cleanup` closes."""
    from tests.support.s3peer import S3PeerUnavailable, start_s3_peer
    from tests.support.tiers import tiers_with

    tmp = Path(tempfile.mkdtemp(prefix="distserver-bench-"))
    cleanup.callback(shutil.rmtree, tmp, True)

    say("starting the S3 peer")
    try:
        peer = start_s3_peer(tmp)
    except S3PeerUnavailable as exc:
        raise BenchError(str(exc)) from exc
    cleanup.callback(peer.stop)

    db_name = f"distbench_{uuid.uuid4().hex[:12]}"
    say(f"creating PostgreSQL database {db_name}")
    db_url = create_database(db_name)
    cleanup.callback(drop_database, db_name)

    settings = {
        "ENV": "production",
        # Production refuses to start without the address it is reached at.
        "EXTERNAL_URL": "http://127.0.0.1",
        "MAIL_BACKEND": "outbox",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": db_url.replace("postgresql://", "postgresql+psycopg://", 1),
        "STORAGE": "s3",
        "S3_BUCKET": peer.bucket,
        "S3_ENDPOINT_URL": peer.endpoint_url,
        "S3_REGION": "us-east-1",
        "TIERS_DIR": str(tiers_with(tmp, tiers)),
        "INSTANCE_DIR": str(tmp / "instance"),
        # Production refuses to start without keys of its own.
        "TOTP_ENCRYPTION_KEY": secrets.token_urlsafe(48),
        "AUDIT_SIGNING_KEY_FILE": str(_audit_key(tmp)),
        "FINGERPRINT_KEYS": json.dumps({"k1": base64.b64encode(os.urandom(32)).decode()}),
        "FINGERPRINT_ACTIVE_KEY": "k1",
        "DOWNLOAD_FAST_PATH": "true" if fast_path else "false",
        "DOWNLOAD_FACTS_CACHE": "true" if facts_cache else "false",
    }
    env = clean_env()
    env.update({f"DISTSERVER_{k}": v for k, v in settings.items()})
    env.update(peer.env())

    say("migrating with `distserver db upgrade`")
    run_cli(["db", "upgrade"], env)

    saved_env = {k: os.environ.get(k) for k in os.environ if k.startswith("AWS_")}
    os.environ.update(peer.env())
    cleanup.callback(_restore_env, saved_env)
    return Stack(tmp, peer, db_url, settings, env)


def seeding_app(settings: dict[str, Any]) -> Any:
    """The app built in this process for seeding through the services (as
    tests/support/world.py does), without an fsync per commit: the servers measured
    keep durable commits."""
    from distserver import create_app

    overrides = dict(settings)
    overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_pre_ping": True,
        "connect_args": {"options": "-c synchronous_commit=off"},
    }
    return create_app(overrides)


def start_gunicorn(
    cleanup: contextlib.ExitStack, name: str, target: str, env: dict[str, str], tmp: Path
) -> Server:
    """gunicorn with docker/gunicorn.conf.py serving `target` on a free loopback port,
    stopped when `cleanup` closes; returns once it answers /healthz."""
    port = free_port()
    env = dict(env)
    env.update(
        GUNICORN_BIND=f"{HOST}:{port}",
        GUNICORN_WORKERS=str(WORKERS),
        GUNICORN_THREADS=str(THREADS),
    )
    log = tmp / f"gunicorn-{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [tool("gunicorn"), "-c", str(PROJECT / "docker" / "gunicorn.conf.py"), target],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # Ctrl-C reaches us; we stop it in order
        )
    server = Server(name, port, process, log)
    cleanup.callback(_stop_server, server)
    _wait_ready(server, "/healthz")
    return server


def _wait_ready(server: Server, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"gunicorn ({server.name}) exited with status {server.process.returncode}:\n"
                f"{server.log_tail()}"
            )
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"gunicorn ({server.name}) did not answer within {timeout:.0f} s")


def _stop_server(server: Server) -> None:
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
    try:
        server.process.wait(timeout=25)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)  # its own session, started above
        server.process.wait(timeout=10)
