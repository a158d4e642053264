"""The periodic schedule runs once across hosts: two schedulers (two apps here, two
processes below) sharing Redis enqueue the seal job once per period, never twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from distserver.jobs import job_runtime
from distserver.jobs.schedule import Scheduler, redis_claim
from tests.support.databases import TEST_SECRET
from tests.support.redis_namespace import redis_client, redis_env, redis_settings

ONLY_SEALING = {
    "JOBS_SEAL_PERIOD": 60,
    "JOBS_RELEASES_TICK_PERIOD": 0,
    "JOBS_GRANT_REMINDER_PERIOD": 0,
    "JOBS_REVIEW_DIGEST_PERIOD": 0,
    "JOBS_ALERTS_PERIOD": 0,
    "JOBS_COPY_PLAN_PERIOD": 0,
}


def _queued(namespace: str, queue: str = "maintenance") -> int:
    return int(redis_client().hlen(f"{namespace}:{queue}.msgs"))


def test_two_schedulers_enqueue_the_seal_job_once_per_period(make_app: Any) -> None:
    with redis_settings() as settings:
        apps = [make_app("sqlite", **settings, **ONLY_SEALING) for _ in range(2)]
        schedulers = [Scheduler(job_runtime(a), redis_claim(job_runtime(a))) for a in apps]
        period_start = 1_800_000_000 // 60 * 60  # any instant will do; a fixed one is exact
        enqueued: list[list[str]] = []
        barrier = threading.Barrier(2)

        def run(scheduler: Scheduler, now: float) -> None:
            barrier.wait()
            enqueued.append(scheduler.run_once(now))

        for now in (period_start + 1.0, period_start + 59.0):  # twice in the same period
            threads = [threading.Thread(target=run, args=(s, now)) for s in schedulers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert sorted(enqueued) == [[], [], [], ["audit.seal"]]
        assert _queued(settings["JOBS_REDIS_NAMESPACE"]) == 1

        # A scheduler started later in the same period (a restart, a third host) skips it.
        late = Scheduler(job_runtime(apps[0]), redis_claim(job_runtime(apps[0])))
        assert late.run_once(period_start + 30.0) == []
        # The next period is enqueued once more, by whichever scheduler claims it first.
        nxt = [s.run_once(period_start + 61.0) for s in schedulers]
        assert sorted(nxt) == [[], ["audit.seal"]]
        assert _queued(settings["JOBS_REDIS_NAMESPACE"]) == 2


def test_two_scheduler_processes_enqueue_once(tmp_path: Path) -> None:
    """The operator's command, twice at once: exactly one of them enqueues the period."""
    with redis_settings() as settings:
        env = {
            **os.environ,
            "DISTSERVER_ENV": "testing",
            "DISTSERVER_SECRET_KEY": TEST_SECRET,
            "DISTSERVER_INSTANCE_DIR": str(tmp_path / "instance"),
            **redis_env(settings),
            # A day-long period: the two processes cannot straddle its boundary unless
            # the test runs across midnight UTC.
            "DISTSERVER_JOBS_SEAL_PERIOD": "86400",
            "DISTSERVER_JOBS_RELEASES_TICK_PERIOD": "0",
            "DISTSERVER_JOBS_GRANT_REMINDER_PERIOD": "0",
            "DISTSERVER_JOBS_REVIEW_DIGEST_PERIOD": "0",
            "DISTSERVER_JOBS_ALERTS_PERIOD": "0",
            "DISTSERVER_JOBS_COPY_PLAN_PERIOD": "0",
        }
        command = [sys.executable, "-m", "distserver.cli", "jobs", "scheduler", "--once"]
        procs = [
            subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        assert sorted(o.strip() for o in outputs) == ["", "enqueued audit.seal"]
        assert _queued(settings["JOBS_REDIS_NAMESPACE"]) == 1
