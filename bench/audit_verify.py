"""audit-verify benchmark (../shared/docs/benchmarks.md): `distserver audit verify` over N
sealed events in a fresh PostgreSQL database, against hashing the same canonical bytes in
a bare Python loop, in the same run.

    .venv/bin/python bench/audit_verify.py [--events 1000000] [--deep]

Seeding: the events are generated in PostgreSQL (INSERT ... SELECT over generate_series,
no Python per event), then read back once and sealed as `seal_batch` seals them: the
canonical bytes from `canonical_bytes` (the Python encoder), the chain, a signed checkpoint
every 10,000 events; the seals (with their bytes) go in with COPY. Then it runs:

- the real CLI, `distserver audit verify`, in a subprocess: wall time including start-up,
  and its peak RSS (its own VmHWM, sampled while it runs);
- the same verification in a child process after start-up (`--child`), timed alone, and
  its two parts alone: the chain over the stored bytes (hashlib) and the set-based
  comparison of the bytes with the columns (they run at the same time in the verify);
- with `--deep`, also `audit verify --deep` (every event re-encoded in Python).

Besides wall times it prints CPU times (this process, and the PostgreSQL backends read
from /proc): on a shared machine they do not stretch with other work, so they compare
across runs where wall times do not.

It prints a table and a last line of name=value pairs, and drops its database. Needs
PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres), as the tests do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from distserver.audit.chain import CHAINED_FIELDS, GENESIS, canonical_bytes, link_hash
from distserver.audit.checkpoints import sign_checkpoint

PROJECT = Path(__file__).resolve().parent.parent
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHECKPOINT_EVERY = 10_000
CHUNK = 10_000
SELECT_EVENTS = f"SELECT {', '.join(CHAINED_FIELDS)} FROM audit_events ORDER BY id"  # noqa: S608
# One row per event, all in SQL: varied tags, actors, models, a user agent with a quote,
# a backslash and non-ASCII characters (so the encoders' escaping is exercised).
GENERATE = """
INSERT INTO audit_events (occurred_at, tag, actor_id, actor, address, user_agent, model,
    revision, path, sha256, tier, reason, link_id, data)
SELECT
    timestamptz '2026-01-01 00:00:00+00' + g * interval '7919 microseconds',
    (ARRAY['download:link:issued', 'download:file:served', 'download:link:refused',
           'account:login:succeeded'])[g %% 4 + 1],
    g %% 1000 + 1,
    'user' || (g %% 1000) || '@example.org',
    '10.' || (g %% 256) || '.' || (g / 256 %% 256) || '.7',
    'huggingface_hub/0.26; python/3.11 "bench" \\ é 中',
    'acme/model-' || (g %% 50),
    lpad(to_hex(g %% 9999), 40, '0'),
    'model-' || lpad((g %% 8)::text, 5, '0') || '-of-00008.safetensors',
    encode(sha256(int8send(g)), 'hex'),
    (ARRAY['public', 'researcher', 'vetted_partner'])[g %% 3 + 1],
    CASE WHEN g %% 4 = 2 THEN 'no_grant' END,
    CASE WHEN g %% 4 = 0 THEN lpad(to_hex(g), 32, '0') END,
    '{"door":"api","link_ttl":900}'
FROM generate_series(0, %(last)s) AS g
"""


def _settings(url: str, instance: Path) -> dict[str, str]:
    return {
        "ENV": "testing",
        "DATABASE_URL": url,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "STORAGE": "local",
    }


def migrate(settings: dict[str, str]) -> Any:
    from distserver import create_app
    from distserver.audit.keys import signing_key
    from distserver.extensions import db, upgrade_database

    app = create_app(dict(settings))
    upgrade_database(app)
    with app.app_context():
        db.engine.dispose()
    return signing_key(app.config)


def seed(dsn: str, n: int, key: Any) -> float:
    """Generate the events in SQL, then seal them in id order as the sealer does, with
    COPY for the seals and the checkpoints."""
    t0 = time.perf_counter()
    head, seq, cps = GENESIS, 0, []
    with psycopg.connect(dsn) as conn:
        conn.execute(GENERATE, {"last": n - 1})
    # Read on one connection while COPY writes on another (a connection in COPY cannot
    # fetch from a cursor).
    with psycopg.connect(dsn) as source, psycopg.connect(dsn) as conn:
        read = source.cursor(name="bench_seed")
        read.itersize = CHUNK
        read.execute(SELECT_EVENTS)
        with (
            conn.cursor() as write,
            write.copy("COPY audit_seals (seq, event_id, hash, canonical) FROM STDIN") as copy,
        ):
            for row in read:
                data = canonical_bytes(dict(zip(CHAINED_FIELDS, row, strict=True)))
                head = link_hash(head, seq, data)
                copy.write_row((seq, row[0], head.hex(), data))
                if (seq + 1) % CHECKPOINT_EVERY == 0 or seq == n - 1:
                    cps.append(sign_checkpoint(key, seq, head, datetime.now(UTC)))
                seq += 1
        read.close()
        cp_cols = "seq, head_hash, created_at, key_id, signature"
        with (
            conn.cursor() as write,
            write.copy(f"COPY audit_checkpoints ({cp_cols}) FROM STDIN") as copy,
        ):
            for cp in cps:
                created = datetime.fromisoformat(cp.created_at.replace("Z", "+00:00"))
                copy.write_row((cp.seq, cp.head_hash, created, cp.key_id, cp.signature))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_events")
        conn.execute("VACUUM ANALYZE audit_seals")
    return time.perf_counter() - t0


def stored_bytes(dsn: str) -> Iterator[bytes]:
    """The canonical bytes the seals hold, in seq order, for the baselines."""
    with psycopg.connect(dsn) as conn, conn.cursor(name="bench_bytes", binary=True) as cur:
        cur.itersize = CHUNK
        cur.execute("SELECT canonical FROM audit_seals ORDER BY seq")
        for (data,) in cur:
            yield data


def baselines(dsn: str) -> tuple[float, float, float]:
    """(seconds to chain-hash the canonical bytes held in memory, the CPU seconds of that,
    seconds to encode the same events with canonical_bytes and hash them), CHUNK events at
    a time."""
    hash_only = hash_cpu = full = 0.0
    head, seq = GENESIS, 0
    stream = stored_bytes(dsn)
    sha = hashlib.sha256
    while blobs := [b for _, b in zip(range(CHUNK), stream, strict=False)]:
        t1, c1 = time.perf_counter(), time.process_time()
        for b in blobs:
            head = sha(head + seq.to_bytes(8, "big") + b).digest()
            seq += 1
        hash_only += time.perf_counter() - t1
        hash_cpu += time.process_time() - c1
    with psycopg.connect(dsn) as conn, conn.cursor(name="bench_events") as cur:
        cur.itersize = CHUNK
        cur.execute(SELECT_EVENTS)
        head, seq = GENESIS, 0
        while rows := cur.fetchmany(CHUNK):
            events = [dict(zip(CHAINED_FIELDS, row, strict=True)) for row in rows]
            t0 = time.perf_counter()
            for event in events:
                head = sha(head + seq.to_bytes(8, "big") + canonical_bytes(event)).digest()
                seq += 1
            full += time.perf_counter() - t0
    return hash_only, hash_cpu, full


def _env(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update({f"DISTSERVER_{k}": v for k, v in settings.items()})
    env["PYTHONPATH"] = str(PROJECT)
    return env


def _high_water_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run(argv: list[str], settings: dict[str, str]) -> tuple[float, int, str, int]:
    """(wall seconds, peak RSS in KiB, output, exit code) of a child process.

    The peak is the child's own VmHWM, read every 20 ms while it runs: wait4's ru_maxrss
    would also count the pages the child had from this (large) process when it forked."""
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=_env(settings), stdout=out, stderr=out)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _high_water_kb(proc.pid) or 0)
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        out.seek(0)
        return elapsed, peak, out.read().strip(), proc.returncode


def backend_cpu(connection: Any) -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL backend serving a
    SQLAlchemy connection (PostgreSQL runs on this machine): unlike wall time, this does
    not grow when other work shares the cores."""
    pid = connection.connection.driver_connection.info.backend_pid
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child() -> None:
    """In a fresh process, after the app has started: time verify_database and its parts
    alone. Prints one JSON object."""
    from distserver import create_app
    from distserver.audit import fast_verify
    from distserver.audit.database_verify import verify_database
    from distserver.audit.keys import signing_key
    from distserver.audit.queries import checkpoints
    from distserver.extensions import db

    app = create_app()
    with app.app_context():
        public = signing_key(app.config).public_key()
        t0 = time.perf_counter()
        result = verify_database(db.session, public)
        verify_s = time.perf_counter() - t0
        assert result.ok, result.message
        last = result.head_seq
        cps = sorted(checkpoints(db.session), key=lambda cp: cp.seq)
        db.session.rollback()
        connection = db.session.connection()
        t0, c0, b0 = time.perf_counter(), time.process_time(), backend_cpu(connection)
        fast_verify.chain_over_stored(connection, last, cps)
        chain_s = time.perf_counter() - t0
        chain_cpu = {"python": time.process_time() - c0, "pg": backend_cpu(connection) - b0}
        db.session.rollback()
        with db.engine.connect() as connection:
            t0, b0 = time.perf_counter(), backend_cpu(connection)
            assert fast_verify.mismatched_columns(connection, last) == []
            compare_s, compare_cpu = time.perf_counter() - t0, backend_cpu(connection) - b0
    parts = {"verify_s": verify_s, "chain_s": chain_s, "compare_s": compare_s}
    parts |= {"chain_py_cpu_s": chain_cpu["python"], "chain_pg_cpu_s": chain_cpu["pg"]}
    print(json.dumps(parts | {"compare_pg_cpu_s": compare_cpu}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--deep", action="store_true", help="also time `audit verify --deep`")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    n = args.events
    # A SIGTERM (timeout, Ctrl-C from a wrapper) still drops the database in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("interrupted"))
    name = f"dst_bench_audit_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    cli = [sys.executable, "-m", "distserver", "audit", "verify"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = _settings(dsn.replace("postgresql://", "postgresql+psycopg://"), Path(tmp))
            key = migrate(settings)
            seed_s = seed(dsn, n, key)
            hash_s, hash_cpu, full_s = baselines(dsn)
            verify_s, rss_kb, output, code = run(cli, settings)
            _, child_rss, child_out, child_code = run(
                [sys.executable, str(Path(__file__).resolve()), "--child"], settings
            )
            deep = run([*cli, "--deep"], settings) if args.deep else None
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    if code != 0 or child_code != 0:
        sys.exit(f"verify failed (exit {code}, {child_code}): {output} {child_out}")
    if deep is not None and deep[3] != 0:
        sys.exit(f"verify --deep failed (exit {deep[3]}): {deep[2]}")
    parts = json.loads(child_out.splitlines()[-1])
    base_hash, base_full = n / hash_s, n / full_s
    rows = [
        ("seed (generate_series, sealed in Python, COPY)", seed_s),
        ("baseline: sha256 chain over canonical bytes in memory", hash_s),
        ("baseline: canonical_bytes + sha256 chain, in memory", full_s),
        ("distserver audit verify (CLI subprocess, incl. start-up)", verify_s),
        ("verify_database after start-up (same check, in process)", parts["verify_s"]),
        ("  part alone: chain over stored bytes (hashlib)", parts["chain_s"]),
        ("  part alone: set-based SQL comparison bytes/columns", parts["compare_s"]),
    ]
    if deep is not None:
        rows.append(("distserver audit verify --deep (CLI, incl. start-up)", deep[0]))
    print(f"audit-verify over {n:,} sealed events (PostgreSQL)")
    print(f"{'step':<58} {'seconds':>9} {'events/s':>12} {'x hash':>7}")
    for label, secs in rows:
        print(f"{label:<58} {secs:>9.2f} {n / secs:>12,.0f} {hash_s / secs:>7.3f}")
    cpu = {
        "baseline hash (python)": hash_cpu,
        "chain over stored bytes (python)": parts["chain_py_cpu_s"],
        "chain over stored bytes (postgresql, the COPY)": parts["chain_pg_cpu_s"],
        "column comparison (postgresql, one connection)": parts["compare_pg_cpu_s"],
    }
    print("CPU time (not stretched by other work on the machine):")
    for label, secs in cpu.items():
        print(f"  {label:<56} {secs:>9.2f} s {secs / n * 1e6:>7.2f} us/event")
    print(
        f"verify peak RSS: CLI {rss_kb / 1024:.1f} MB, in-process child {child_rss / 1024:.1f} MB;"
        f" verify said: {output}"
    )
    pairs = {
        "events": n,
        "seed_s": f"{seed_s:.2f}",
        "verify_s": f"{verify_s:.2f}",
        "verify_in_process_s": f"{parts['verify_s']:.2f}",
        "chain_s": f"{parts['chain_s']:.2f}",
        "compare_s": f"{parts['compare_s']:.2f}",
        "baseline_hash_events_per_s": f"{base_hash:.0f}",
        "baseline_hash_cpu_s": f"{hash_cpu:.2f}",
        "chain_py_cpu_s": f"{parts['chain_py_cpu_s']:.2f}",
        "chain_pg_cpu_s": f"{parts['chain_pg_cpu_s']:.2f}",
        "compare_pg_cpu_s": f"{parts['compare_pg_cpu_s']:.2f}",
        "baseline_canonical_hash_events_per_s": f"{base_full:.0f}",
        "ratio_vs_hash": f"{hash_s / verify_s:.3f}",
        "ratio_in_process_vs_hash": f"{hash_s / parts['verify_s']:.3f}",
        "ratio_vs_canonical_hash": f"{full_s / verify_s:.3f}",
        "peak_rss_mb": f"{rss_kb / 1024:.1f}",
    }
    if deep is not None:
        pairs["deep_s"] = f"{deep[0]:.2f}"
        pairs["deep_ratio_vs_hash"] = f"{hash_s / deep[0]:.3f}"
    print(" ".join(f"{k}={v}" for k, v in pairs.items()))


if __name__ == "__main__":
    main()
