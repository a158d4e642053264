"""The test Redis, shared by every pytest-xdist worker and every test: each test works
under a key namespace of its own and deletes only its own keys afterwards, never the
database (two tests of one module can run at once, on two workers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/11"


def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is required at 127.0.0.1:6379 for this test: {exc}")
    return client


@contextmanager
def redis_settings() -> Iterator[dict[str, str]]:
    """Settings for an app whose jobs and rate-limit counters go through Redis under a
    fresh namespace; the namespace's keys are deleted afterwards."""
    client = redis_client()
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield {
            "REDIS_URL": REDIS_URL,
            "JOBS_REDIS_NAMESPACE": namespace,
            "RATELIMIT_KEY_PREFIX": namespace,
        }
    finally:
        keys = namespace_keys(namespace)
        if keys:
            client.delete(*keys)


def namespace_keys(namespace: str) -> list[bytes]:
    """Every key of a namespace: the job queues' keys start with it, and Flask-Limiter
    puts its prefix inside its keys ("LIMITS:LIMITER/<prefix>/...")."""
    return list(redis_client().scan_iter(f"*{namespace}*"))


def redis_env(settings: dict[str, str]) -> dict[str, str]:
    """The same settings for a `distserver` process's environment."""
    return {f"DISTSERVER_{name}": value for name, value in settings.items()}
