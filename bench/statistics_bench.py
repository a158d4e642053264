"""statistics benchmark: a model's download statistics (the release console's charts,
GET /api/v1/models/{ns}/{name}/statistics) and the Hugging Face door's 30-day
`downloads` count (asked for on every `model_info`), over N audit events in a fresh
PostgreSQL database, with the (model, tag, occurred_at) index of migration 0017 and
then without it, in the same run.

    .venv/bin/python bench/statistics_bench.py [--events 1000000]

The events are generated in SQL over 90 days, 50 models (model-0 holds a tenth of
them), four tags (half of them issued links), three tiers, three doors. Each query is
timed as the median of 7 runs after a warm-up. The baseline is a bare
`SELECT count(*)` of the same model's issued links in the window. It prints a table
and a last line of name=value pairs, and drops its database. Needs PostgreSQL at
127.0.0.1:5432 (trust auth, user postgres), as the tests do.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MODEL = "acme/model-0"
GENERATE = """
INSERT INTO audit_events (occurred_at, tag, actor_id, actor, address, model, path, tier, data)
SELECT
    now() - (g::float8 / %(count)s * 7776000) * interval '1 second',
    (ARRAY['download:link:issued', 'download:link:issued', 'download:link:refused',
           'release:evaluation:recorded'])[g %% 4 + 1],
    CASE WHEN g %% 5 = 0 THEN NULL ELSE g %% 5000 END,
    'user' || (g %% 5000) || '@example.org',
    '10.0.' || (g %% 256) || '.7',
    CASE WHEN g %% 10 = 0 THEN 'acme/model-0' ELSE 'acme/model-' || (g %% 49 + 1) END,
    'model-' || lpad((g %% 8)::text, 5, '0') || '-of-00008.safetensors',
    (ARRAY['public', 'researcher', 'vetted_partner'])[g %% 3 + 1],
    (ARRAY['{"door":"api","link_ttl":900}', '{"door":"hf","link_ttl":900}',
           '{"door":"web","link_ttl":900}'])[g / 7 %% 3 + 1]
FROM generate_series(0, %(last)s) AS g
"""
BASELINE = """SELECT count(*) FROM audit_events
WHERE model = %(model)s AND tag = 'download:link:issued' AND occurred_at >= %(since)s"""


def median_ms(run: Callable[[], Any], times: int = 7) -> float:
    run()
    samples = []
    for _ in range(times):
        t0 = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def measure(app: Any, dsn: str) -> dict[str, float]:
    from distserver.audit.queries import window_start
    from distserver.downloads.counts import recent_downloads
    from distserver.downloads.statistics import model_statistics
    from distserver.extensions import db

    since = window_start(datetime.now(UTC), 30)
    with app.app_context(), psycopg.connect(dsn) as conn:
        return {
            "baseline_count": median_ms(
                lambda: conn.execute(BASELINE, {"model": MODEL, "since": since}).fetchone()
            ),
            "statistics_30d": median_ms(lambda: model_statistics(db.session, MODEL, days=30)),
            "statistics_90d": median_ms(lambda: model_statistics(db.session, MODEL, days=90)),
            "hf_downloads": median_ms(lambda: recent_downloads(db.session, [MODEL])),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    from distserver import create_app
    from distserver.extensions import db, upgrade_database

    name = f"dst_bench_stats_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(ADMIN, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(
                {
                    "ENV": "testing",
                    "DATABASE_URL": dsn.replace("postgresql://", "postgresql+psycopg://"),
                    "INSTANCE_DIR": str(Path(tmp)),
                    "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                    "STORAGE": "local",
                }
            )
            upgrade_database(app)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(GENERATE, {"last": args.events - 1, "count": args.events})
                conn.execute("VACUUM ANALYZE audit_events")
                every = BASELINE.replace("%(since)s", "'-infinity'")
                in_model = conn.execute(every, {"model": MODEL}).fetchone()[0]  # type: ignore[index]
            indexed = measure(app, dsn)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("DROP INDEX ix_audit_events_model_tag_occurred")
                conn.execute("ANALYZE audit_events")
            plain = measure(app, dsn)
            with app.app_context():
                db.engine.dispose()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    print(f"{args.events:,} events; {MODEL}: {in_model:,} issued links over 90 days")
    print(f"{'query (median ms)':<22}{'with 0017 index':>17}{'without':>10}")
    for key in indexed:
        print(f"{key:<22}{indexed[key]:>17.2f}{plain[key]:>10.2f}")
    pairs = [f"events={args.events}"]
    pairs += [f"{k}_ms={indexed[k]:.2f}" for k in indexed]
    pairs += [f"{k}_noindex_ms={plain[k]:.2f}" for k in plain]
    print(" ".join(pairs))


if __name__ == "__main__":
    main()
