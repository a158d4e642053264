"""One app's job machinery: its Dramatiq broker, the declared jobs bound to it as actors
that run inside the app's context, and (without Redis) the in-process worker.

- With REDIS_URL: Dramatiq's RedisBroker under JOBS_REDIS_NAMESPACE. The app only
  enqueues; `distserver jobs worker` processes (any number, on any host) run the jobs.
- Without: Dramatiq's StubBroker and a Dramatiq Worker in JOBS_INPROCESS_THREADS threads
  of this process, started on the first message (the embedded demo, small installs and
  the tests). Messages live in memory and are lost when the process stops."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from flask import Flask

from distserver.errors import ConfigError
from distserver.jobs.registry import JOBS, QUEUES, Job

log = logging.getLogger("distserver.jobs")

# Idle in-process threads wake this often (ms) to notice a stop; small so that stopping
# an app's worker (tests make many apps) is quick.
INPROCESS_POLL_MS = 25


def retry_policy(settings: Mapping[str, Any]) -> tuple[int, int, int]:
    """(max retries, min backoff ms, max backoff ms) from the JOBS_* settings."""
    return (
        int(settings.get("JOBS_MAX_RETRIES", 7)),
        int(settings.get("JOBS_MIN_BACKOFF_MS", 30000)),
        int(settings.get("JOBS_MAX_BACKOFF_MS", 21600000)),
    )


def _middleware(settings: Mapping[str, Any]) -> list[Any]:
    # Dramatiq's default set, with Retries configured from settings; Prometheus is left
    # out on purpose: /metrics reads backlog() and failed_count() instead.
    max_retries, min_backoff, max_backoff = retry_policy(settings)
    retries = Retries(max_retries=max_retries, min_backoff=min_backoff, max_backoff=max_backoff)
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(), retries]


class JobRuntime:
    """Held in app.extensions["jobs"]; see the module docstring."""

    def __init__(self, app: Flask) -> None:
        settings = app.config
        self.app = app
        self.redis_url = str(settings.get("REDIS_URL") or "")
        self.namespace = str(settings.get("JOBS_REDIS_NAMESPACE") or "distserver-jobs")
        self.broker: dramatiq.Broker
        if self.redis_url:
            # Imported here: the redis client is a tenth of a second of every start-up
            # (each CLI command) that an app without Redis never needs.
            from dramatiq.brokers.redis import RedisBroker

            self.broker = RedisBroker(
                url=self.redis_url, namespace=self.namespace, middleware=_middleware(settings)
            )
        else:
            # No "process_boot" here: TimeLimit's watchdog thread is for worker processes;
            # an in-process job is not interrupted.
            self.broker = StubBroker(middleware=_middleware(settings))
        self.actors: dict[str, dramatiq.Actor[Any, Any]] = {
            declared.name: self._bind(declared) for declared in JOBS.values()
        }
        self.threads = max(1, int(settings.get("JOBS_INPROCESS_THREADS", 1)))
        self._worker: dramatiq.Worker | None = None
        self._lock = threading.Lock()
        self.scheduler: Any = None  # the in-process schedule, when one runs
        self.startup_warnings: list[str] = []

    @property
    def in_process(self) -> bool:
        return not self.redis_url

    def _bind(self, declared: Job) -> dramatiq.Actor[Any, Any]:
        app = self.app

        def run(*args: Any) -> Any:
            from distserver.extensions import db

            with app.app_context():
                try:
                    return declared.fn(*args)
                finally:
                    db.session.remove()

        run.__name__ = run.__qualname__ = declared.name
        run.__module__ = declared.fn.__module__
        return dramatiq.Actor(
            run,
            broker=self.broker,
            actor_name=declared.name,
            queue_name=declared.queue,
            priority=0,
            options=dict(declared.options),
        )

    def send(self, name: str, *args: Any) -> dramatiq.Message[Any]:
        """Enqueue the job `name` now (callers normally go through enqueue_after_commit)."""
        message = self.actors[name].send(*args)
        if self.in_process:
            self._start_worker()
        return message

    def _start_worker(self) -> None:
        with self._lock:
            if self._worker is None:
                worker = dramatiq.Worker(
                    self.broker, worker_threads=self.threads, worker_timeout=INPROCESS_POLL_MS
                )
                worker.start()
                self._worker = worker

    def stop(self, timeout_ms: int = 10000) -> None:
        """Stop the in-process schedule and worker, if they run (messages still queued
        stay queued)."""
        if self.scheduler is not None:
            self.scheduler.stop()
            self.scheduler = None
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout=timeout_ms)

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every in-process message that is due has run (development and
        tests; retries waiting for their backoff are not waited for)."""
        if not self.in_process:
            raise ConfigError("drain() is for the in-process queue; with Redis, run a worker")
        assert isinstance(self.broker, StubBroker)
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:  # twice in a row: a job may enqueue another as it finishes
            busy = any(self.broker.queues[q].unfinished_tasks for q in self._declared_queues())
            quiet = 0 if busy else quiet + 1
            if time.monotonic() > deadline:
                raise TimeoutError("in-process jobs did not finish in time")
            time.sleep(0.01)

    def _declared_queues(self) -> list[str]:
        return [q for q in QUEUES if q in self.broker.get_declared_queues()]

    def backlog(self) -> dict[str, int]:
        """Messages not yet done per queue: waiting, running or waiting for a retry."""
        if isinstance(self.broker, StubBroker):
            return {
                q: self.broker.queues[q].unfinished_tasks
                + self.broker.queues[f"{q}.DQ"].unfinished_tasks
                for q in self._declared_queues()
            }
        client = self._redis()
        with client.pipeline() as pipe:
            for q in QUEUES:
                pipe.hlen(f"{self.namespace}:{q}.msgs")
                pipe.hlen(f"{self.namespace}:{q}.DQ.msgs")
            counts = pipe.execute()
        return {q: int(counts[2 * i]) + int(counts[2 * i + 1]) for i, q in enumerate(QUEUES)}

    def failed(self) -> dict[str, int]:
        """Dead-lettered messages per queue: retries exhausted (Redis keeps them for
        dead_message_ttl, a week by default)."""
        if isinstance(self.broker, StubBroker):
            return {q: len(self.broker.dead_letters_by_queue[q]) for q in self._declared_queues()}
        client = self._redis()
        with client.pipeline() as pipe:
            for q in QUEUES:
                pipe.zcard(f"{self.namespace}:{q}.XQ")
            counts = pipe.execute()
        return dict(zip(QUEUES, (int(c) for c in counts), strict=True))

    def _redis(self) -> Any:
        from dramatiq.brokers.redis import RedisBroker

        assert isinstance(self.broker, RedisBroker)
        return self.broker.client
