"""alerts benchmark (docs/benchmarks.md): the alert rules evaluated over N sealed
events in a fresh PostgreSQL database, against the rate at which the download fast
path writes events, measured in the same run.

    .venv/bin/python bench/alerts_bench.py [--events 1000000] [--writes 5000]

Seeding: N link events (issued, used, refused; 5,000 accounts, each with its
share of every kind, a tenth of them anonymous, 50 models, 8 files each) are
generated in PostgreSQL over one day (INSERT ... SELECT over generate_series), and
given their place in the chain with one INSERT ... SELECT into audit_seals
(evaluation reads only the sequence numbers; the hashes are not measured here).
One account is used from four addresses, so the run raises some shared-credential
alerts.

Then, in this process:

- the fast path's write rate: `--writes` link events through the fast path's own
  statement (downloads.fastissue.ISSUE_UNCOUNTED, one autocommitted statement each,
  on the fast path's connection), as /dl/ re-use writes them;
- a first evaluation (`alerts.evaluate`'s work) over all N events: events/s;
- a second, incremental one: nothing new to read, nothing raised;
- a third with the cursor put back to the start: all N events read again, and still
  nothing new raised (alerts are unique on rule, principal and window).

It prints a table and a last line of name=value pairs, and drops its database.
Needs PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres), as the tests do.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GENERATE = """
INSERT INTO audit_events (occurred_at, tag, actor_id, actor, address, user_agent, model,
    revision, path, sha256, tier, reason, link_id, data)
SELECT
    timestamptz '2026-01-01 00:00:00+00' + g * (interval '1 second' * 80000 / %(n)s),
    CASE WHEN g / 5000 %% 10 < 7 THEN 'download:link:issued'
         WHEN g / 5000 %% 10 < 8 THEN 'download:link:used'
         ELSE 'download:link:refused' END,
    CASE WHEN (g %% 5000) %% 10 = 0 THEN NULL ELSE g %% 5000 + 1 END,
    CASE WHEN (g %% 5000) %% 10 = 0 THEN 'anonymous'
         ELSE 'user' || (g %% 5000) || '@example.org' END,
    CASE WHEN (g %% 5000) %% 10 = 0
         THEN '10.' || (g %% 250) || '.' || (g / 250 %% 250) || '.9'
         WHEN g %% 5000 = 7 THEN '192.0.2.' || (g / 5000 %% 4)
         ELSE '10.' || (g %% 5000 / 250) || '.' || (g %% 250) || '.7' END,
    'huggingface_hub/0.26',
    'acme/model-' || (g %% 50),
    lpad(to_hex(g %% 50), 40, '0'),
    'model-' || lpad((g / 5000 %% 8)::text, 5, '0') || '-of-00008.safetensors',
    encode(sha256(int8send(g)), 'hex'),
    'researcher',
    CASE WHEN g / 5000 %% 10 >= 8 THEN 'no_grant' END,
    CASE WHEN g / 5000 %% 10 < 8 THEN lpad(to_hex(g), 22, '0') END,
    '{"door":"api","link_ttl":900}'
FROM generate_series(0, %(last)s) AS g
"""
SEAL = """
INSERT INTO audit_seals (seq, event_id, hash)
SELECT row_number() OVER (ORDER BY id) - 1, id, repeat('0', 64) FROM audit_events
"""


def _settings(url: str, instance: Path) -> dict[str, Any]:
    return {
        "ENV": "testing",
        "DATABASE_URL": url,
        "INSTANCE_DIR": str(instance),
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "STORAGE": "local",
        "JOBS_ALERTS_PERIOD": 0,
    }


def seed(dsn: str, n: int) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        conn.execute(GENERATE, {"last": n - 1, "n": n})
        conn.execute(SEAL)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_events")
        conn.execute("VACUUM ANALYZE audit_seals")
    return time.perf_counter() - t0


def fast_path_writes(app: Any, count: int) -> float:
    """Seconds for `count` link events written by the fast path's own statement."""
    from distserver.access.policy import Principal
    from distserver.audit.service import event_values
    from distserver.audit.tags import EventTag
    from distserver.db import utcnow
    from distserver.downloads import fastdb, fastissue

    principal = Principal(address="198.51.100.1", user_id=None, email=None)
    with fastdb.connection(app) as conn:
        # The statement writes only at the current access version (downloads.fastcache).
        held = conn.fetch_one("SELECT version FROM access_version WHERE id = 1", {})
        assert held is not None
        t0 = time.perf_counter()
        for i in range(count):
            now = utcnow()
            event = event_values(
                EventTag.LINK_USED,
                principal,
                when=now,
                model="acme/model-1",
                revision="0" * 40,
                path="config.json",
                sha256="a" * 64,
                tier="public",
                link_id=f"bench{i:017d}",
                data={"door": "dl", "link_ttl": 600},
            )
            params = {
                "now": now,
                "token_id": None,
                "touch": False,
                "version": held[0],
                "new_link": False,
                **fastissue.prefixed("e_", event),
                **fastissue.prefixed("l_", {c: None for c in fastissue.LINK_COLUMNS}),
            }
            conn.fetch_one(fastissue.ISSUE_UNCOUNTED, params)
        return time.perf_counter() - t0


def evaluate_runs(app: Any) -> list[tuple[float, int, int]]:
    """(seconds, events read, alerts raised) of the three evaluations."""
    from distserver.alerts.evaluate import EVENTS_CURSOR, cursor, evaluate
    from distserver.alerts.service import current_rules
    from distserver.extensions import db

    runs = []
    with app.app_context():
        for again in (False, False, True):
            if again:
                cursor(db.session, EVENTS_CURSOR).last_seen = -1
                db.session.commit()
            t0 = time.perf_counter()
            report = evaluate(db.session, current_rules())
            runs.append((time.perf_counter() - t0, report.events, len(report.raised)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=5_000)
    args = parser.parse_args()
    n = args.events
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("interrupted"))
    name = f"dst_bench_alerts_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            from distserver import create_app
            from distserver.extensions import db, upgrade_database

            url = dsn.replace("postgresql://", "postgresql+psycopg://")
            app = create_app(_settings(url, Path(tmp)))
            upgrade_database(app)
            seed_s = seed(dsn, n)
            write_s = fast_path_writes(app, args.writes)
            runs = evaluate_runs(app)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            from distserver.downloads import fastdb

            fastdb.dispose(app)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    write_rate = args.writes / write_s
    (
        (first_s, first_n, raised),
        (second_s, second_n, second_raised),
        (third_s, third_n, third_raised),
    ) = runs
    rate = first_n / first_s
    rows = [
        ("seed (SQL generate + seal)", n, seed_s, None, None),
        ("fast path writes (ISSUE_UNCOUNTED, 1 by 1)", args.writes, write_s, write_rate, None),
        ("evaluate: first run", first_n, first_s, rate, raised),
        ("evaluate: second run (incremental)", second_n, second_s, None, second_raised),
        (
            "evaluate: cursor reset, all read again",
            third_n,
            third_s,
            third_n / third_s,
            third_raised,
        ),
    ]
    print(f"{'what':<44} {'events':>10} {'seconds':>9} {'events/s':>10} {'raised':>7}")
    for what, count, seconds, per_s, new in rows:
        per = f"{per_s:.0f}" if per_s is not None else ""
        print(f"{what:<44} {count:>10} {seconds:>9.2f} {per:>10} {'' if new is None else new:>7}")
    ok = second_raised == 0 and third_raised == 0 and rate >= write_rate
    print(
        f"events={n} eval_events_per_s={rate:.0f} fast_path_writes_per_s={write_rate:.0f} "
        f"ratio={rate / write_rate:.1f} raised={raised} second_run_raised={second_raised} "
        f"reread_raised={third_raised} goal_met={'yes' if ok else 'no'}"
    )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
