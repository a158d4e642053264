"""audit-verify benchmark (../shared/docs/benchmarks.md): `distserver audit verify` over N
sealed events in a fresh PostgreSQL database, against hashing the same canonical bytes in
a bare Python loop.

    .venv/bin/python bench/audit_verify.py [--events 1000000]

Seeds with COPY (the chain built in Python, a signed checkpoint every 10,000 events), runs
the real CLI in a subprocess (its own peak RSS from wait4), prints a table and a last line
of name=value pairs, and drops its database. Needs PostgreSQL at 127.0.0.1:5432 (trust
auth, user postgres), as the tests do.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from distserver.audit.chain import CHAINED_FIELDS, GENESIS, canonical_bytes, link_hash
from distserver.audit.checkpoints import sign_checkpoint

PROJECT = Path(__file__).resolve().parent.parent
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
CHECKPOINT_EVERY = 10_000
CHUNK = 10_000
TAGS = (
    "download:link:issued",
    "download:file:served",
    "download:link:refused",
    "account:login:succeeded",
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def events(n: int) -> Iterator[dict[str, Any]]:
    """A deterministic, varied stream of events (ids 1..n)."""
    for i in range(n):
        tag = TAGS[i % 4]
        yield {
            "id": i + 1,
            "occurred_at": START + timedelta(microseconds=i * 7919),
            "tag": tag,
            "actor_id": i % 1000 + 1,
            "actor": f"user{i % 1000}@example.org",
            "address": f"10.{i % 256}.{i // 256 % 256}.7",
            "user_agent": "huggingface_hub/0.26; python/3.11",
            "model": f"acme/model-{i % 50}",
            "revision": f"{i % 9999:040x}",
            "path": f"model-{i % 8:05d}-of-00008.safetensors",
            "sha256": hashlib.sha256(i.to_bytes(8, "big")).hexdigest(),
            "tier": ("public", "researcher", "vetted_partner")[i % 3],
            "reason": "no_grant" if tag == "download:link:refused" else None,
            "link_id": f"{i:032x}" if tag == "download:link:issued" else None,
            "data": json.dumps(
                {"door": "api", "link_ttl": 900}, sort_keys=True, separators=(",", ":")
            ),
        }


def _settings(url: str, instance: Path) -> dict[str, str]:
    return {
        "ENV": "testing",
        "DATABASE_URL": url,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "STORAGE": "local",
    }


def migrate(settings: dict[str, str]) -> Any:
    from flask_migrate import upgrade

    from distserver import create_app
    from distserver.audit.keys import signing_key
    from distserver.extensions import db

    app = create_app(dict(settings))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return signing_key(app.config)


def seed(dsn: str, n: int, key: Any) -> float:
    """COPY the events and their seals in chunks (one COPY at a time per connection)."""
    t0 = time.perf_counter()
    head, cps, stream = GENESIS, [], events(n)
    cols = ", ".join(CHAINED_FIELDS)
    seq = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        while batch := [e for _, e in zip(range(CHUNK), stream, strict=False)]:
            seals = []
            for event in batch:
                head = link_hash(head, seq, canonical_bytes(event))
                seals.append((seq, event["id"], head.hex()))
                if (seq + 1) % CHECKPOINT_EVERY == 0 or seq == n - 1:
                    cps.append(sign_checkpoint(key, seq, head, datetime.now(UTC)))
                seq += 1
            with cur.copy(f"COPY audit_events ({cols}) FROM STDIN") as copy:
                for event in batch:
                    copy.write_row([event[c] for c in CHAINED_FIELDS])
            with cur.copy("COPY audit_seals (seq, event_id, hash) FROM STDIN") as copy:
                for row in seals:
                    copy.write_row(row)
        cp_cols = "seq, head_hash, created_at, key_id, signature"
        with cur.copy(f"COPY audit_checkpoints ({cp_cols}) FROM STDIN") as copy:
            for cp in cps:
                created = datetime.fromisoformat(cp.created_at.replace("Z", "+00:00"))
                copy.write_row((cp.seq, cp.head_hash, created, cp.key_id, cp.signature))
        cur.execute("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), %s)", (n,))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_events")
        conn.execute("VACUUM ANALYZE audit_seals")
    return time.perf_counter() - t0


def baselines(n: int) -> tuple[float, float]:
    """(seconds to hash precomputed canonical bytes, seconds for canonical_bytes + hash)."""
    hash_only = full = 0.0
    head, seq = GENESIS, 0
    batch: list[dict[str, Any]] = []
    stream = events(n)
    while True:
        batch = [e for _, e in zip(range(CHUNK), stream, strict=False)]
        if not batch:
            return hash_only, full
        t0 = time.perf_counter()
        blobs = [canonical_bytes(e) for e in batch]
        t1 = time.perf_counter()
        sha = hashlib.sha256
        for b in blobs:
            head = sha(head + seq.to_bytes(8, "big") + b).digest()
            seq += 1
        t2 = time.perf_counter()
        hash_only += t2 - t1
        full += t2 - t0


def run_verify(settings: dict[str, str]) -> tuple[float, int, str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update({f"DISTSERVER_{k}": v for k, v in settings.items()})
    env["PYTHONPATH"] = str(PROJECT)
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "distserver", "audit", "verify"], env=env, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return elapsed, usage.ru_maxrss, out.read().strip(), proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    n = parser.parse_args().events
    # A SIGTERM (timeout, Ctrl-C from a wrapper) still drops the database in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("interrupted"))
    name = f"dst_bench_audit_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = _settings(dsn.replace("postgresql://", "postgresql+psycopg://"), Path(tmp))
            key = migrate(settings)
            seed_s = seed(dsn, n, key)
            hash_s, full_s = baselines(n)
            verify_s, rss_kb, output, code = run_verify(settings)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    if code != 0:
        sys.exit(f"verify failed (exit {code}): {output}")
    rate, base_hash, base_full = n / verify_s, n / hash_s, n / full_s
    rows = [
        ("seed (COPY, chain built in Python)", seed_s, n / seed_s),
        ("baseline: sha256 chain over precomputed canonical bytes", hash_s, base_hash),
        ("baseline: canonical_bytes + sha256 chain, in memory", full_s, base_full),
        ("distserver audit verify (subprocess, incl. start-up)", verify_s, rate),
    ]
    print(f"audit-verify over {n:,} sealed events (PostgreSQL)")
    print(f"{'step':<58} {'seconds':>9} {'events/s':>12}")
    for label, secs, per in rows:
        print(f"{label:<58} {secs:>9.2f} {per:>12,.0f}")
    print(f"verify peak RSS: {rss_kb / 1024:.1f} MB; verify said: {output}")
    print(
        f"events={n} verify_s={verify_s:.2f} verify_events_per_s={rate:.0f} "
        f"baseline_hash_events_per_s={base_hash:.0f} "
        f"baseline_canonical_hash_events_per_s={base_full:.0f} "
        f"ratio_vs_hash={rate / base_hash:.3f} ratio_vs_canonical_hash={rate / base_full:.3f} "
        f"peak_rss_mb={rss_kb / 1024:.1f}"
    )


if __name__ == "__main__":
    main()
