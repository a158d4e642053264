"""The periodic schedule: which job runs every how many seconds, enqueued once per period
across every scheduler that runs.

Periods are aligned to the Unix epoch (a 3600 s period starts on the hour, 86400 s at
midnight UTC). Before enqueueing a job for the period starting at S, a scheduler claims
`<JOBS_REDIS_NAMESPACE>:schedule:<job>:<S>` with Redis `SET NX EX`; only the scheduler
that set the key enqueues, so two schedulers (say, one per host, or an old and a new one
during a deploy) never enqueue the same period twice. Written here rather than taken
from a cron library because the whole of it is this claim plus a sleep; the jobs
themselves run on Dramatiq."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from distserver.jobs.runtime import JobRuntime

log = logging.getLogger("distserver.jobs")

# job name -> the setting that holds its period in seconds (0 turns it off).
SCHEDULE = {
    "audit.seal": "JOBS_SEAL_PERIOD",
    "releases.tick": "JOBS_RELEASES_TICK_PERIOD",
    "grants.remind": "JOBS_GRANT_REMINDER_PERIOD",
    "applications.digest": "JOBS_REVIEW_DIGEST_PERIOD",
    "alerts.evaluate": "JOBS_ALERTS_PERIOD",
    "fingerprint.plan": "JOBS_COPY_PLAN_PERIOD",
}
MAX_SLEEP = 30.0
Claim = Callable[[str, int, int], bool]


def periods(settings: Mapping[str, Any]) -> dict[str, int]:
    """Job name -> period in seconds, for every entry that is switched on."""
    found = {name: int(settings.get(setting) or 0) for name, setting in SCHEDULE.items()}
    return {name: period for name, period in found.items() if period > 0}


def redis_claim(runtime: JobRuntime) -> Claim:
    """A claim shared by every scheduler on the same Redis and namespace."""
    client = runtime.broker.client  # type: ignore[attr-defined]
    owner = f"{socket.gethostname()}:{threading.get_native_id()}"

    def claim(name: str, start: int, period: int) -> bool:
        key = f"{runtime.namespace}:schedule:{name}:{start}"
        return bool(client.set(key, owner, nx=True, ex=max(2 * period, 60)))

    return claim


def local_claim() -> Claim:
    """A claim for one process (the in-process schedule of the embedded demo)."""
    claimed: set[tuple[str, int]] = set()
    lock = threading.Lock()

    def claim(name: str, start: int, period: int) -> bool:
        with lock:
            if (name, start) in claimed:
                return False
            claimed.add((name, start))
            return True

    return claim


class Scheduler:
    """Enqueues each scheduled job once per period, when its claim succeeds."""

    def __init__(self, runtime: JobRuntime, claim: Claim) -> None:
        self.runtime, self.claim = runtime, claim
        self.periods = periods(runtime.app.config)
        self.seen: dict[str, int] = {}

    def run_once(self, now: float | None = None) -> list[str]:
        """Enqueue what is due at `now` and not yet claimed; returns the jobs enqueued."""
        now = time.time() if now is None else now
        enqueued = []
        for name, period in self.periods.items():
            start = int(now // period) * period
            if self.seen.get(name) == start:
                continue
            if self.claim(name, start, period):
                self.runtime.send(name)
                enqueued.append(name)
                log.info("scheduled %s for the period starting at %d", name, start)
            self.seen[name] = start
        return enqueued

    def seconds_to_next(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        waits = [period - (now % period) for period in self.periods.values()]
        return min([MAX_SLEEP, *waits])

    def run(self, stopping: threading.Event) -> None:
        """Until `stopping` is set; a Redis or broker outage is logged and retried."""
        if not self.periods:
            log.warning("every JOBS_*_PERIOD is 0: the schedule has nothing to run")
        while not stopping.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("the schedule could not enqueue; trying again")
                stopping.wait(5)
                continue
            stopping.wait(self.seconds_to_next() + 0.05)


class InProcessScheduler:
    """The schedule in a daemon thread of the app's own process (no Redis)."""

    def __init__(self, app: Flask) -> None:
        from distserver.jobs import job_runtime

        self.stopping = threading.Event()
        self.scheduler = Scheduler(job_runtime(app), local_claim())
        self.thread = threading.Thread(
            target=self.scheduler.run, args=(self.stopping,), name="jobs-schedule", daemon=True
        )

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)


def start_in_process_scheduler(app: Flask) -> InProcessScheduler:
    scheduler = InProcessScheduler(app)
    scheduler.thread.start()
    return scheduler
