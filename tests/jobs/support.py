"""Helpers for the job tests: a Dramatiq worker in threads of the test process, the
environment of a worker process, and waiting for a condition. (A private Redis namespace:
tests/support/redis_namespace.py.)"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
from flask import Flask

from distserver.jobs import job_runtime
from tests.support.databases import TEST_SECRET
from tests.support.redis_namespace import redis_env


@contextmanager
def running_worker(app: Flask, threads: int = 2) -> Iterator[dramatiq.Worker]:
    """A Dramatiq worker for `app`'s broker, in threads of this process."""
    worker = dramatiq.Worker(job_runtime(app).broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10000)


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout} s for {what}")


def worker_env(app: Flask, settings: dict[str, Any], **extra: str) -> dict[str, str]:
    """The environment of a `distserver jobs ...` process serving `app` (its database,
    instance folder and the Redis of `redis_settings`), plus DISTSERVER_<extra>."""
    return {
        **os.environ,
        "DISTSERVER_ENV": "testing",
        "DISTSERVER_SECRET_KEY": TEST_SECRET,
        "DISTSERVER_DATABASE_URL": app.config["DATABASE_URL"],
        "DISTSERVER_INSTANCE_DIR": app.instance_path,
        **redis_env(settings),
        **{f"DISTSERVER_{k}": v for k, v in extra.items()},
    }
