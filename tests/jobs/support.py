"""Helpers for the job tests: a private Redis namespace, a Dramatiq worker in threads
of the test process, and waiting for a condition."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
import pytest
import redis
from flask import Flask

from distserver.jobs import job_runtime
from tests.support.databases import TEST_SECRET

# A database number of its own; every test also uses a fresh key namespace in it.
REDIS_URL = "redis://127.0.0.1:6379/11"


def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required at 127.0.0.1:6379 for the job-queue tests: {exc}")
    return client


@contextmanager
def redis_settings() -> Iterator[dict[str, Any]]:
    """Settings for an app whose jobs go through Redis under a fresh namespace; the
    namespace's keys are deleted afterwards."""
    client = redis_client()
    namespace = f"test-jobs-{uuid.uuid4().hex[:12]}"
    try:
        yield {
            "REDIS_URL": REDIS_URL,
            "JOBS_REDIS_NAMESPACE": namespace,
            "RATELIMIT_KEY_PREFIX": namespace,
        }
    finally:
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)


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
        "DISTSERVER_REDIS_URL": settings["REDIS_URL"],
        "DISTSERVER_JOBS_REDIS_NAMESPACE": settings["JOBS_REDIS_NAMESPACE"],
        **{f"DISTSERVER_{k}": v for k, v in extra.items()},
    }
