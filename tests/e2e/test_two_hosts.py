"""Done-when 2 of issue 14: two hosts behind a proxy. Two gunicorn instances on two
loopback ports, production settings, sharing one PostgreSQL database, Redis (the
anonymous limit) and the S3 peer, behind a small proxy that sets X-Forwarded-For from
the real client each request names (TRUSTED_PROXY_COUNT = 1):

- a grant made through one host is honoured by the other at once;
- the anonymous limit counts across both hosts per real client address;
- a halt through one host stops links (new ones and /dl/ ones) on the other;
- the audit log records the real client addresses, never the proxy's;
- with one worker and two schedulers (one per host) running beside them, sealing runs
  exactly once per period, and the sealed log verifies.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from distserver.audit.tags import EventTag
from distserver.extensions import db
from tests.access.support import ANSWERS, sha, writer
from tests.support.forwarding_proxy import ForwardingProxy
from tests.support.job_processes import BIN, JobProcess, start_jobs
from tests.support.live_gunicorn import LiveGunicorn, start_gunicorn
from tests.support.production import production_env
from tests.support.redis_namespace import redis_env
from tests.support.s3fixtures import s3_settings
from tests.support.world import DEFAULT_FILES, World

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3]

SEAL_PERIOD = 2  # seconds
PROXY_ADDRESS = "127.0.0.1"  # what both hosts see as the TCP peer
RESEARCHER, ANNE, BEN = "198.51.100.10", "198.51.100.21", "203.0.113.22"
A, B = 0, 1


class Through:
    """Requests through the proxy to one chosen host, as one chosen real client."""

    def __init__(self, proxy: ForwardingProxy):
        self.proxy = proxy
        self.http = requests.Session()
        self.http.trust_env = False
        self.request_ids: set[str] = set()

    def __call__(
        self, method: str, path: str, host: int, client: str, **kw: Any
    ) -> requests.Response:
        headers = {"X-Test-Upstream": str(host), "X-Test-Client": client, **kw.pop("headers", {})}
        answer = self.http.request(
            method, self.proxy.url + path, headers=headers, allow_redirects=False, timeout=60, **kw
        )
        assert answer.headers["X-Test-Upstream"] == str(host)
        self.request_ids.add(answer.headers["X-Request-ID"])
        return answer


def test_two_hosts_share_grants_limits_halts_and_real_client_addresses(
    make_app: Any, s3_env: Any, tmp_path: Path, redis_space: dict[str, str]
) -> None:
    keys = production_env(tmp_path / "keys")
    s3 = s3_settings(s3_env)
    app = make_app(
        "postgres",
        **s3,
        SECRET_KEY=keys["DISTSERVER_SECRET_KEY"],
        TOTP_ENCRYPTION_KEY=keys["DISTSERVER_TOTP_ENCRYPTION_KEY"],
        AUDIT_SIGNING_KEY_FILE=keys["DISTSERVER_AUDIT_SIGNING_KEY_FILE"],
    )
    with app.app_context():
        world = World(app, tmp_path / "sources")
        world.model("acme/research", stage="research-access")
        world.model("acme/open", plan="open", stage=None)
        researcher = writer(world.person("r@example.org"))
        reviewer = writer(world.person("rev@example.org", roles=("reviewer",)))
        safety = writer(world.person("safety@example.org", roles=("safety",)))
        application = {
            "tier": "researcher",
            "answers": ANSWERS,
            "agreement_sha256": sha("researcher"),
        }
        db.session.remove()

    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update({f"DISTSERVER_{k}": v for k, v in s3.items()})
    env.update(
        {
            **keys,
            "DISTSERVER_DATABASE_URL": app.config["DATABASE_URL"],
            **redis_env(redis_space),
            "DISTSERVER_TRUSTED_PROXY_COUNT": "1",
            "DISTSERVER_ANONYMOUS_RATE_LIMIT": "3 per minute",
            # The schedule: sealing every SEAL_PERIOD seconds, nothing else.
            "DISTSERVER_JOBS_SEAL_PERIOD": str(SEAL_PERIOD),
            "DISTSERVER_JOBS_RELEASES_TICK_PERIOD": "0",
            "DISTSERVER_JOBS_GRANT_REMINDER_PERIOD": "0",
            "DISTSERVER_JOBS_REVIEW_DIGEST_PERIOD": "0",
            "DISTSERVER_JOBS_ALERTS_PERIOD": "0",
            "DISTSERVER_JOBS_COPY_PLAN_PERIOD": "0",
            "DISTSERVER_MAIL_BACKEND": "outbox",
        }
    )
    hosts: list[LiveGunicorn] = []
    jobs: list[JobProcess] = []
    proxy: ForwardingProxy | None = None
    try:
        jobs.append(start_jobs("worker", env, tmp_path / "worker", "--processes", "1"))
        for name in ("scheduler-a", "scheduler-b"):  # one per host: they must share periods
            jobs.append(start_jobs("scheduler", env, tmp_path / name))
        started = time.time()
        for name in ("host-a", "host-b"):
            host_env = {**env, "DISTSERVER_INSTANCE_DIR": str(tmp_path / name / "instance")}
            hosts.append(start_gunicorn(host_env, tmp_path / name / "logs"))
        proxy = ForwardingProxy([("127.0.0.1", h.port) for h in hosts]).start()
        call = Through(proxy)
        links = "/api/v1/models/acme/research/links"
        ask = {"json": {"path": "config.json"}}

        # A grant made through host A is honoured by host B at once.
        before = call("POST", links, B, RESEARCHER, headers=researcher, **ask)
        assert before.status_code == 403, before.text
        applied = call(
            "POST",
            "/api/v1/models/acme/research/applications",
            A,
            RESEARCHER,
            headers=researcher,
            json=application,
        )
        assert applied.status_code == 201, applied.text
        approved = call(
            "POST",
            f"/api/v1/applications/{applied.json()['id']}/approve",
            A,
            "10.8.0.5",
            headers=reviewer,
            json={},
        )
        assert approved.status_code == 200, approved.text
        granted = call("POST", links, B, RESEARCHER, headers=researcher, **ask)
        assert granted.status_code == 201, granted.text
        fetched = call.http.get(granted.json()["url"], timeout=30)
        assert fetched.content == DEFAULT_FILES["config.json"]

        # The anonymous limit (3 a minute) counts across both hosts per real client.
        open_links = "/api/v1/models/acme/open/links"
        anne = [call("POST", open_links, h, ANNE, **ask).status_code for h in (A, B, A)]
        assert anne == [201, 201, 201]
        assert call("POST", open_links, B, ANNE, **ask).status_code == 429
        # A hop Anne forges in front of the proxy's does not buy her a fresh budget.
        forged = {"X-Forwarded-For": "192.0.2.99"}
        assert call("POST", open_links, A, ANNE, headers=forged, **ask).status_code == 429
        assert call("POST", open_links, B, BEN, **ask).status_code == 201

        # A halt through host A stops links on host B, new ones and /dl/ ones alike.
        halted = call(
            "POST",
            "/api/v1/models/acme/research/halt",
            A,
            "10.8.0.6",
            headers=safety,
            json={"reason": "Two-host drill."},
        )
        assert halted.status_code == 200, halted.text
        refused = call("POST", links, B, RESEARCHER, headers=researcher, **ask)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "halted"
        reused = call("GET", f"/dl/{granted.json()['link_id']}", B, RESEARCHER, headers=researcher)
        assert reused.status_code == 403, reused.text

        # Let at least two whole sealing periods pass with both schedulers running.
        time.sleep(max(0.0, started + 2.5 * SEAL_PERIOD - time.time()) + SEAL_PERIOD)
    finally:
        if proxy is not None:
            proxy.stop()
        for host in hosts:
            host.stop()
        for process in jobs:
            process.stop()

    assert set(proxy.served) == {A, B}
    with app.app_context():
        db.session.remove()
        tags = (EventTag.LINK_ISSUED, EventTag.LINK_REFUSED, EventTag.LINK_USED)
        downloads = [(e.address, e.data) for e in World.events() if e.tag in tags]
        staff = [
            (e.address, e.data)
            for tag in (EventTag.APPLICATION_APPROVED, EventTag.STAGE_HALTED)
            for e in World.events(tag)
        ]
    # The audit log records the real clients, never the proxy, with each request's id.
    assert {address for address, _ in downloads} == {RESEARCHER, ANNE, BEN}
    assert {address for address, _ in staff} == {"10.8.0.5", "10.8.0.6"}
    assert all(json.loads(data)["request_id"] in call.request_ids for _, data in downloads + staff)
    # Each host's request log names the real clients too (its JSON lines on stderr).
    # (The start-up health checks come straight from the test, so from loopback.)
    real = {RESEARCHER, ANNE, BEN, "10.8.0.5", "10.8.0.6"}
    for host in hosts:
        written = (host.logs / "stderr.log").read_text().splitlines()
        lines = [json.loads(x) for x in written if x.startswith("{")]
        clients = {x["client"] for x in lines if x.get("logger") == "distserver.request"}
        assert clients - {PROXY_ADDRESS}, clients
        assert clients - {PROXY_ADDRESS} <= real, clients

    # Worker and schedulers: each sealing period was enqueued by exactly one of the two
    # schedulers, every period that passed was, the worker sealed every event, and the
    # sealed log verifies.
    schedulers = jobs[1:]
    assert all(p.process.returncode == 0 for p in jobs), [p.lines()[-5:] for p in jobs]
    periods = [start for scheduler in schedulers for start in scheduler.scheduled("audit.seal")]
    assert len(periods) == len(set(periods)) >= 3, periods
    assert sorted(periods) == list(range(min(periods), max(periods) + 1, SEAL_PERIOD)), periods
    with app.app_context():
        db.session.remove()
        unsealed = db.session.scalar(
            sa.text(
                "SELECT count(*) FROM audit_events e"
                " LEFT JOIN audit_seals s ON s.event_id = e.id WHERE s.seq IS NULL"
            )
        )
        assert unsealed == 0
    verify = subprocess.run(
        [str(BIN / "distserver"), "audit", "verify"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verify.returncode == 0, verify.stderr
