"""The `links` and `resolve` benchmarks (../shared/docs/benchmarks.md, docs/benchmarks.md).

    .venv/bin/python -m bench links|resolve|all [--seconds 10]

Starts everything it needs and removes it afterwards, even on Ctrl-C or an error:
the S3 peer (rclone serve s3), a fresh PostgreSQL database migrated with
`distserver db upgrade`, 1,000 researchers (API token, tier-wide grant, accepted
agreement) and one model at general-availability with its files on S3, then two
gunicorns on loopback with the same settings (docker/gunicorn.conf.py, 2 workers x 4
threads): the app (`wsgi:app`, production settings) and the baseline
(`bench.baseline_app:app`, which only presigns the same key).

For each benchmark: a short warm-up of both, the saturating throughput in a closed
loop (app, baseline, baseline, app: alternated against drift), then an open-loop run
at 70 % of the app's saturating rate for the latencies (the baseline at the same
offered rate, for comparison). Afterwards the `download:link:issued` events written
during the benchmark must equal the 201s (links) or 302s (resolve) the load
generator got from the app.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.cpu import process_ticks, seconds_between, worker_ticks
from bench.load import HOST, PhaseResult, RequestSpec, closed_loop, open_loop

PROJECT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
MODEL_NS, MODEL_NAME = "bench", "llm"
FILE_PATH = "model.safetensors"
FILES = {
    FILE_PATH: b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 256,
    "config.json": b'{"hidden_size": 8}\n',
}
USERS = 1000
WORKERS, THREADS = 2, 4  # the gunicorn settings of both servers
OPEN_LOOP_SHARE = 0.7
WARMUP_SECONDS = 1.0
GOALS = {"links": {"ratio": 0.5, "p99_ms": 30.0}, "resolve": {"ratio": 0.5}}
EXPECTED_STATUS = {"links": 201, "resolve": 302}


class BenchError(RuntimeError):
    """A benchmark could not be set up or run; the message says which part."""


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 25) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Outcome:
    name: str
    seconds: float
    app_closed: list[PhaseResult] = field(default_factory=list)
    base_closed: list[PhaseResult] = field(default_factory=list)
    app_open: PhaseResult | None = None
    base_open: PhaseResult | None = None
    app_warmup: PhaseResult | None = None
    events: int = 0
    # Worker CPU seconds (user + system) over the closed-loop phases, per server, and
    # the CPU of the PostgreSQL backends serving the app's database meanwhile.
    app_cpu: float = 0.0
    base_cpu: float = 0.0
    db_cpu: float = 0.0

    @staticmethod
    def _rate(phases: list[PhaseResult]) -> float:
        seconds = sum(p.seconds for p in phases)
        return sum(p.completed for p in phases) / seconds if seconds else 0.0

    @property
    def app_rps(self) -> float:
        return self._rate(self.app_closed)

    @property
    def base_rps(self) -> float:
        return self._rate(self.base_closed)

    @property
    def ratio(self) -> float:
        return self.app_rps / self.base_rps if self.base_rps else 0.0

    @staticmethod
    def _per_answer(cpu: float, phases: list[PhaseResult]) -> float:
        answers = sum(p.completed for p in phases)
        return cpu / answers if answers else float("nan")

    @property
    def app_cpu_per_answer(self) -> float:
        return self._per_answer(self.app_cpu, self.app_closed)

    @property
    def base_cpu_per_answer(self) -> float:
        return self._per_answer(self.base_cpu, self.base_closed)

    @property
    def db_cpu_per_answer(self) -> float:
        return self._per_answer(self.db_cpu, self.app_closed)

    @property
    def client_cpu_per_answer(self) -> float:
        phases = self.app_closed + self.base_closed
        return self._per_answer(sum(p.client_cpu for p in phases), phases)

    @property
    def cpu_ratio(self) -> float:
        """The ratio the CPU figures predict when the load generator, both servers and
        PostgreSQL have the machine to themselves: (client + baseline) / (client + app
        + PostgreSQL) CPU per answer."""
        client = self.client_cpu_per_answer
        app = client + self.app_cpu_per_answer + self.db_cpu_per_answer
        return (client + self.base_cpu_per_answer) / app if app > 0 else float("nan")

    def app_phases(self) -> list[PhaseResult]:
        found = [self.app_warmup, *self.app_closed, self.app_open]
        return [p for p in found if p is not None]

    @property
    def counted(self) -> int:
        return sum(p.count(EXPECTED_STATUS[self.name]) for p in self.app_phases())

    @property
    def app_statuses(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for p in self.app_phases():
            total.update(p.statuses)
        return total

    def goal_met(self) -> bool:
        goal = GOALS[self.name]
        ok = self.ratio >= goal["ratio"]
        if "p99_ms" in goal and self.app_open is not None:
            ok = ok and self.app_open.percentile(99) * 1000 <= goal["p99_ms"]
        return ok and self.events == self.counted

    def table(self) -> str:
        assert self.app_open is not None
        assert self.base_open is not None
        a, b = self.app_open, self.base_open
        others = {
            s: n for s, n in self.app_statuses.items() if s != str(EXPECTED_STATUS[self.name])
        }
        rows = [
            ("saturating throughput (req/s)", f"{self.app_rps:,.0f}", f"{self.base_rps:,.0f}"),
            ("ratio app / baseline", f"{self.ratio:.2f}", ""),
            (
                "worker CPU per answer, closed loop (ms)",
                _ms(self.app_cpu_per_answer),
                _ms(self.base_cpu_per_answer),
            ),
            ("PostgreSQL CPU per answer, closed loop (ms)", _ms(self.db_cpu_per_answer), ""),
            ("load generator CPU per answer (ms)", _ms(self.client_cpu_per_answer), ""),
            ("ratio the CPU per answer predicts", f"{self.cpu_ratio:.2f}", ""),
            ("open loop: offered (req/s)", f"{a.offered_rate:,.0f}", f"{b.offered_rate:,.0f}"),
            ("open loop: achieved (req/s)", f"{a.throughput:,.0f}", f"{b.throughput:,.0f}"),
            ("open loop: p50 latency (ms)", _ms(a.percentile(50)), _ms(b.percentile(50))),
            ("open loop: p99 latency (ms)", _ms(a.percentile(99)), _ms(b.percentile(99))),
            ("open loop: requests unsent", f"{a.unsent}", f"{b.unsent}"),
            (
                f"link:issued events / {EXPECTED_STATUS[self.name]}s counted",
                f"{self.events:,} / {self.counted:,}",
                "",
            ),
            ("app answers other than expected", json.dumps(others) if others else "none", ""),
        ]
        goal = GOALS[self.name]
        want = f"ratio >= {goal['ratio']}" + (
            f", p99 <= {goal['p99_ms']:.0f} ms" if "p99_ms" in goal else ""
        )
        head = f"{self.name}: {self.request_line()} ({self.seconds:g} s phases)"
        lines = [head, f"{'':<40} {'app':>16} {'baseline':>12}"]
        lines += [f"{label:<40} {x:>16} {y:>12}" for label, x, y in rows]
        lines.append(f"goal ({want}; events == answers): {'met' if self.goal_met() else 'NOT met'}")
        return "\n".join(lines)

    def request_line(self) -> str:
        if self.name == "links":
            return f"POST /api/v1/models/{MODEL_NS}/{MODEL_NAME}/links"
        return f"HEAD /{MODEL_NS}/{MODEL_NAME}/resolve/main/{FILE_PATH}"

    def pairs(self) -> dict[str, str]:
        assert self.app_open is not None
        assert self.base_open is not None
        n = self.name
        return {
            f"{n}_app_rps": f"{self.app_rps:.1f}",
            f"{n}_baseline_rps": f"{self.base_rps:.1f}",
            f"{n}_ratio": f"{self.ratio:.3f}",
            f"{n}_app_cpu_ms": f"{self.app_cpu_per_answer * 1000:.3f}",
            f"{n}_baseline_cpu_ms": f"{self.base_cpu_per_answer * 1000:.3f}",
            f"{n}_db_cpu_ms": f"{self.db_cpu_per_answer * 1000:.3f}",
            f"{n}_client_cpu_ms": f"{self.client_cpu_per_answer * 1000:.3f}",
            f"{n}_cpu_ratio": f"{self.cpu_ratio:.3f}",
            f"{n}_open_rate": f"{self.app_open.offered_rate or 0:.1f}",
            f"{n}_p50_ms": f"{self.app_open.percentile(50) * 1000:.2f}",
            f"{n}_p99_ms": f"{self.app_open.percentile(99) * 1000:.2f}",
            f"{n}_baseline_p50_ms": f"{self.base_open.percentile(50) * 1000:.2f}",
            f"{n}_baseline_p99_ms": f"{self.base_open.percentile(99) * 1000:.2f}",
            f"{n}_events": str(self.events),
            f"{n}_counted": str(self.counted),
            f"{n}_events_match": str(int(self.events == self.counted)),
            f"{n}_goal_met": str(int(self.goal_met())),
        }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# ---------------------------------------------------------------- the parts


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _create_database(name: str) -> str:
    try:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchError(
            "PostgreSQL is needed at 127.0.0.1:5432 (trust auth, user postgres) and did not "
            f"answer: {exc}"
        ) from exc
    return f"{PG_SERVER}/{name}"


def _drop_database(name: str) -> None:
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _count_issued(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_events WHERE tag = 'download:link:issued'"
        ).fetchone()
    return int(row[0]) if row else 0


def _backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database (the app's pooled
    connections, warm after the warm-up), this query's own excepted."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"no {name!r} next to {sys.executable} nor on PATH (install the project)")
    return found


def _clean_env() -> dict[str, str]:
    drop = ("DISTSERVER_", "AWS_", "GUNICORN_", "BENCH_")
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


def _migrate(env: dict[str, str], tmp: Path) -> None:
    done = subprocess.run(
        [_tool("distserver"), "db", "upgrade"],
        cwd=PROJECT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise BenchError(f"`distserver db upgrade` failed:\n{done.stderr[-2000:]}")


def _seed(settings: dict[str, Any], tmp: Path, users: int) -> tuple[list[str], str]:
    """1,000 researchers with tokens, one model at general-availability; through the
    services, as tests/support/world.py does. Returns (tokens, sha256 of FILE_PATH)."""
    from distserver import create_app
    from distserver.extensions import db
    from tests.support.world import World

    overrides = dict(settings)
    # Seeding only: no fsync per commit. The servers under load keep durable commits.
    overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_pre_ping": True,
        "connect_args": {"options": "-c synchronous_commit=off"},
    }
    app = create_app(overrides)
    tokens: list[str] = []
    with app.app_context():
        world = World(app, tmp / "sources")
        world.model(f"{MODEL_NS}/{MODEL_NAME}", stage="general-availability", files=FILES)
        for i in range(users):
            person = world.person(f"researcher{i:04d}@bench.example.org", tiers=("researcher",))
            tokens.append(person.token)
        db.session.remove()
        db.engine.dispose()
    return tokens, hashlib.sha256(FILES[FILE_PATH]).hexdigest()


def _start_gunicorn(name: str, target: str, env: dict[str, str], tmp: Path) -> Server:
    port = _free_port()
    env = dict(env)
    env.update(
        GUNICORN_BIND=f"{HOST}:{port}",
        GUNICORN_WORKERS=str(WORKERS),
        GUNICORN_THREADS=str(THREADS),
    )
    log = tmp / f"gunicorn-{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [_tool("gunicorn"), "-c", str(PROJECT / "docker" / "gunicorn.conf.py"), target],
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # Ctrl-C reaches us; we stop it in order
        )
    return Server(name, port, process, log)


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


# ---------------------------------------------------------------- the runs


def _specs(name: str, tokens: list[str]) -> RequestSpec:
    if name == "links":
        return RequestSpec(
            "POST",
            f"/api/v1/models/{MODEL_NS}/{MODEL_NAME}/links",
            body=json.dumps({"path": FILE_PATH}).encode(),
            content_type="application/json",
            tokens=tuple(tokens),
        )
    return RequestSpec(
        "HEAD", f"/{MODEL_NS}/{MODEL_NAME}/resolve/main/{FILE_PATH}", tokens=tuple(tokens)
    )


def _say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _bench(name: str, app: Server, base: Server, db_url: str, tokens: list[str], secs: float):
    spec = _specs(name, tokens)
    out = Outcome(name, secs)
    before = _count_issued(db_url)
    _say(f"{name}: warm-up")
    out.app_warmup = closed_loop(app.port, spec, WARMUP_SECONDS)
    closed_loop(base.port, spec, WARMUP_SECONDS)
    half = secs / 2
    for i, server in enumerate((app, base, base, app)):  # ABBA against drift
        _say(f"{name}: closed loop {i + 1}/4 on {server.name} ({half:g} s)")
        ticks = worker_ticks(server.process.pid)
        backends = _backend_pids(db_url) if server is app else []
        db_ticks = process_ticks(backends)
        result = closed_loop(server.port, spec, half)
        cpu = seconds_between(ticks, worker_ticks(server.process.pid))
        if server is app:
            out.app_closed.append(result)
            out.app_cpu += cpu
            out.db_cpu += seconds_between(db_ticks, process_ticks(backends))
        else:
            out.base_closed.append(result)
            out.base_cpu += cpu
    rate = max(1.0, OPEN_LOOP_SHARE * out.app_rps)
    _say(f"{name}: open loop at {rate:,.0f} req/s on app ({secs:g} s)")
    out.app_open = open_loop(app.port, spec, secs, rate)
    _say(f"{name}: open loop at {rate:,.0f} req/s on baseline ({secs:g} s)")
    out.base_open = open_loop(base.port, spec, secs, rate)
    out.events = _count_issued(db_url) - before
    return out


def run(
    names: list[str],
    seconds: float,
    users: int = USERS,
    fast_path: bool = True,
    facts_cache: bool = True,
) -> list[Outcome]:
    """Set everything up once, run the named benchmarks, tear everything down.
    `fast_path` False runs the app with DOWNLOAD_FAST_PATH off (the ORM path);
    `facts_cache` False with DOWNLOAD_FACTS_CACHE off (facts read on every request)."""
    from tests.support.s3peer import S3PeerUnavailable, start_s3_peer
    from tests.support.tiers import tiers_with

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    saved_env = {k: os.environ.get(k) for k in os.environ if k.startswith("AWS_")}
    outcomes: list[Outcome] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(signal.signal, signal.SIGTERM, previous)
        tmp = Path(tempfile.mkdtemp(prefix="distserver-bench-"))
        cleanup.callback(shutil.rmtree, tmp, True)

        _say("starting the S3 peer")
        try:
            peer = start_s3_peer(tmp)
        except S3PeerUnavailable as exc:
            raise BenchError(str(exc)) from exc
        cleanup.callback(peer.stop)

        db_name = f"distbench_{uuid.uuid4().hex[:12]}"
        _say(f"creating PostgreSQL database {db_name}")
        db_url = _create_database(db_name)
        cleanup.callback(_drop_database, db_name)

        tiers = tiers_with(tmp, {"researcher": {"daily_quota": 100_000_000}})
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
            "TIERS_DIR": str(tiers),
            "INSTANCE_DIR": str(tmp / "instance"),
            # Production refuses to start without keys of its own.
            "TOTP_ENCRYPTION_KEY": secrets.token_urlsafe(48),
            "AUDIT_SIGNING_KEY_FILE": str(_audit_key(tmp)),
            "FINGERPRINT_KEYS": json.dumps({"k1": base64.b64encode(os.urandom(32)).decode()}),
            "FINGERPRINT_ACTIVE_KEY": "k1",
            "DOWNLOAD_FAST_PATH": "true" if fast_path else "false",
            "DOWNLOAD_FACTS_CACHE": "true" if facts_cache else "false",
        }
        env = _clean_env()
        env.update({f"DISTSERVER_{k}": v for k, v in settings.items()})
        env.update(peer.env())

        _say("migrating with `distserver db upgrade`")
        _migrate(env, tmp)

        _say(f"seeding {users:,} researchers and {MODEL_NS}/{MODEL_NAME} on S3")
        os.environ.update(peer.env())  # boto3's chain, for publishing from this process
        cleanup.callback(_restore_env, saved_env)
        tokens, sha = _seed(settings, tmp, users)

        from distserver.storage import content_disposition
        from distserver.storage.base import blob_key

        base_env = dict(env)
        base_env.update(
            BENCH_KEY=blob_key(sha),
            BENCH_DISPOSITION=content_disposition(Path(FILE_PATH).name),
            BENCH_TTL="900",  # the researcher tier's link_ttl (15m)
        )
        _say("starting gunicorn for the app and for the baseline")
        app = _start_gunicorn("app", "wsgi:app", env, tmp)
        cleanup.callback(_stop_server, app)
        base = _start_gunicorn("baseline", "bench.baseline_app:app", base_env, tmp)
        cleanup.callback(_stop_server, base)
        _wait_ready(app, "/healthz")
        _wait_ready(base, "/healthz")

        for name in names:
            outcomes.append(_bench(name, app, base, db_url, tokens, seconds))
            if app.process.poll() is not None:
                raise BenchError(f"the app's gunicorn died:\n{app.log_tail()}")
        _say("cleaning up")
    return outcomes


def _restore_env(saved: dict[str, str | None]) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        os.environ.pop(key, None)
    for key, value in saved.items():
        if value is not None:
            os.environ[key] = value
