"""Quotas hold under concurrency on the real PostgreSQL: N parallel link requests
against a daily quota of K yield exactly min(N, K) links and as many issued events."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from distserver.downloads.models import DownloadLink
from distserver.extensions import db
from tests.support.tiers import tiers_with
from tests.support.world import World

REQUESTS = 500
QUOTA = 100
THREADS = 32


def test_500_parallel_requests_against_a_quota_of_100_on_postgres(make_app, tmp_path: Path) -> None:
    tiers = tiers_with(tmp_path, {"researcher": {"daily_quota": QUOTA}})
    app = make_app(
        "postgres",
        TIERS_DIR=str(tiers),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": THREADS, "max_overflow": 8, "pool_pre_ping": True},
    )
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",))

    def one(_: int) -> tuple[int, str]:
        with app.test_client() as c:
            r = c.post(
                "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=person.auth
            )
            return r.status_code, (r.json.get("error") or {}).get("code", "")

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = Counter(pool.map(one, range(REQUESTS)))
    print(f"\noutcomes of {REQUESTS} parallel requests, quota {QUOTA}: {dict(outcomes)}")
    assert outcomes == {(201, ""): QUOTA, (429, "quota_exceeded"): REQUESTS - QUOTA}
    with app.app_context():
        issued = world.events("download:link:issued")
        refused = world.events("download:link:refused")
        links = db.session.scalar(db.select(db.func.count()).select_from(DownloadLink))
        assert len(issued) == QUOTA == links
        assert len({e.link_id for e in issued}) == QUOTA
        assert len(refused) == REQUESTS - QUOTA
        assert all(e.reason == "quota_exceeded" for e in refused)
