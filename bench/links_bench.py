"""The `links` and `resolve` benchmarks (../shared/docs/benchmarks.md, docs/benchmarks.md).

    .venv/bin/python -m bench links|resolve|all [--seconds 10]

Starts everything it needs and removes it afterwards, even on Ctrl-C or an error:
the S3 peer (rclone serve s3), a fresh PostgreSQL database migrated with
`distserver db upgrade`, 1,000 researchers (API token, tier-wide grant, accepted
agreement) and one model at general-availability with its files on S3, then two
gunicorns on loopback with the same settings (docker/gunicorn.conf.py, 2 workers x 4
threads): the app (`wsgi:app`, production settings) and the baseline
(`bench.baseline_app:app`, which only presigns the same key).

For each benchmark: a warm-up of both, long enough that every user has been served
by each worker (the facts cache is per process: a server that has been running is
warm), the saturating throughput in a closed loop (app, baseline, baseline, app:
alternated against drift), then an open-loop run at 70 % of the app's saturating rate
for the latencies (the baseline at the same offered rate, for comparison). Afterwards
the `download:link:issued` events written during the benchmark must equal the 201s
(links) or 302s (resolve) the load
generator got from the app.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.cpu import process_ticks, seconds_between, worker_ticks
from bench.load import PhaseResult, RequestSpec, closed_loop, open_loop
from bench.stack import (
    BenchError,
    Server,
    say,
    seeding_app,
    start_gunicorn,
    start_stack,
)

MODEL_NS, MODEL_NAME = "bench", "llm"
FILE_PATH = "model.safetensors"
FILES = {
    FILE_PATH: b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 256,
    "config.json": b'{"hidden_size": 8}\n',
}
USERS = 1000
OPEN_LOOP_SHARE = 0.7
WARMUP_SECONDS = 3.0
GOALS = {"links": {"ratio": 0.5, "p99_ms": 30.0}, "resolve": {"ratio": 0.5, "p99_ms": 30.0}}
EXPECTED_STATUS = {"links": 201, "resolve": 302}


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


def _seed(settings: dict[str, Any], tmp: Path, users: int) -> tuple[list[str], str]:
    """1,000 researchers with tokens, one model at general-availability; through the
    services, as tests/support/world.py does. Returns (tokens, sha256 of FILE_PATH)."""
    from distserver.extensions import db
    from tests.support.world import World

    app = seeding_app(settings)
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


def _bench(
    name: str,
    app: Server,
    base: Server,
    db_url: str,
    tokens: list[str],
    secs: float,
    warmup: float,
) -> Outcome:
    spec = _specs(name, tokens)
    out = Outcome(name, secs)
    before = _count_issued(db_url)
    say(f"{name}: warm-up")
    out.app_warmup = closed_loop(app.port, spec, warmup)
    closed_loop(base.port, spec, warmup)
    half = secs / 2
    for i, server in enumerate((app, base, base, app)):  # ABBA against drift
        say(f"{name}: closed loop {i + 1}/4 on {server.name} ({half:g} s)")
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
    say(f"{name}: open loop at {rate:,.0f} req/s on app ({secs:g} s)")
    out.app_open = open_loop(app.port, spec, secs, rate)
    say(f"{name}: open loop at {rate:,.0f} req/s on baseline ({secs:g} s)")
    out.base_open = open_loop(base.port, spec, secs, rate)
    out.events = _count_issued(db_url) - before
    return out


def run(
    names: list[str],
    seconds: float,
    users: int = USERS,
    fast_path: bool = True,
    facts_cache: bool = True,
    warmup: float = WARMUP_SECONDS,
) -> list[Outcome]:
    """Set everything up once, run the named benchmarks, tear everything down.
    `fast_path` False runs the app with DOWNLOAD_FAST_PATH off (the ORM path);
    `facts_cache` False with DOWNLOAD_FACTS_CACHE off (facts read on every request)."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    outcomes: list[Outcome] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(signal.signal, signal.SIGTERM, previous)
        quota = {"researcher": {"daily_quota": 100_000_000}}
        stack = start_stack(cleanup, tiers=quota, fast_path=fast_path, facts_cache=facts_cache)
        say(f"seeding {users:,} researchers and {MODEL_NS}/{MODEL_NAME} on S3")
        tokens, sha = _seed(stack.settings, stack.tmp, users)

        from distserver.storage import content_disposition
        from distserver.storage.base import blob_key

        base_env = dict(stack.env)
        base_env.update(
            BENCH_KEY=blob_key(sha),
            BENCH_DISPOSITION=content_disposition(Path(FILE_PATH).name),
            BENCH_TTL="900",  # the researcher tier's link_ttl (15m)
        )
        say("starting gunicorn for the app and for the baseline")
        app = start_gunicorn(cleanup, "app", "wsgi:app", stack.env, stack.tmp)
        base = start_gunicorn(cleanup, "baseline", "bench.baseline_app:app", base_env, stack.tmp)

        for name in names:
            outcomes.append(_bench(name, app, base, stack.db_url, tokens, seconds, warmup))
            if app.process.poll() is not None:
                raise BenchError(f"the app's gunicorn died:\n{app.log_tail()}")
        say("cleaning up")
    return outcomes
