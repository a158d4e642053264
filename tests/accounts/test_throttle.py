"""Sign-in throttling (Flask-Limiter): LOGIN_RATE_LIMIT failures per account and
per address, then 429; with REDIS_URL the counters are shared by every instance."""

from __future__ import annotations

from typing import Any

from distserver.audit.tags import EventTag
from tests.accounts.helpers import PASSWORD, sign_in
from tests.support.redis_namespace import namespace_keys, redis_settings
from tests.support.world import World

LIMIT = 5


def _fail(app: Any, email: str, address: str = "127.0.0.1") -> int:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return sign_in(client, email, "wrong password!").status_code


def test_failures_per_address_then_429(make_app: Any) -> None:
    app = make_app("sqlite", LOGIN_RATE_LIMIT=f"{LIMIT} per minute")
    with app.app_context():
        World(app, app.instance_path).person("alice@example.org", password=PASSWORD)
        statuses = [_fail(app, f"user{i}@example.org") for i in range(LIMIT)]
        assert statuses == [401] * LIMIT
        assert _fail(app, "another@example.org") == 429
        page = app.test_client().post("/login", data={"email": "x@example.org"})
        # Even the right password is refused from a throttled address, as a page.
        blocked = sign_in(app.test_client(), "alice@example.org")
        assert blocked.status_code == 429
        assert "text/html" in blocked.content_type
        assert page.status_code == 400  # no CSRF token: refused before the limit is counted
        assert _fail(app, "x@example.org", address="10.0.0.9") == 401  # other addresses fine
        assert len(World.events(EventTag.LOGIN_FAILED)) == LIMIT + 1


def test_failures_per_account_then_429_from_any_address(make_app: Any) -> None:
    app = make_app("sqlite", LOGIN_RATE_LIMIT=f"{LIMIT} per minute")
    with app.app_context():
        World(app, app.instance_path).person("alice@example.org", password=PASSWORD)
        assert [_fail(app, "alice@example.org", f"10.1.0.{i}") for i in range(LIMIT)] == [401] * 5
        assert _fail(app, "alice@example.org", "10.2.0.1") == 429
        assert _fail(app, "bob@example.org", "10.2.0.2") == 401


def test_successes_do_not_count(make_app: Any) -> None:
    app = make_app("sqlite", LOGIN_RATE_LIMIT="2 per minute")
    with app.app_context():
        World(app, app.instance_path).person("alice@example.org", password=PASSWORD)
        for _ in range(4):
            assert sign_in(app.test_client(), "alice@example.org").status_code == 302


def test_the_throttle_is_shared_across_two_instances_through_redis(make_app: Any) -> None:
    """Instance B is built after A's failures, with its own fresh limiter storage:
    only Redis can carry A's count to it (the memory:// control below shows B
    starting from zero otherwise). Each app has its own database, as a 429 is
    decided before any query."""
    with redis_settings() as settings:
        first = make_app("sqlite", LOGIN_RATE_LIMIT=f"{LIMIT} per minute", **settings)
        with first.app_context():
            assert [_fail(first, "alice@example.org") for _ in range(LIMIT)] == [401] * LIMIT
        counters = namespace_keys(settings["RATELIMIT_KEY_PREFIX"])
        assert counters, "no rate-limit counters were written to Redis"
        second = make_app("sqlite", LOGIN_RATE_LIMIT=f"{LIMIT} per minute", **settings)
        with second.app_context():
            assert _fail(second, "alice@example.org") == 429
            assert _fail(second, "alice@example.org", "10.3.0.1") == 429  # per account, too


def test_control_without_redis_a_new_instance_starts_from_zero(make_app: Any) -> None:
    first = make_app("sqlite", LOGIN_RATE_LIMIT=f"{LIMIT} per minute")
    with first.app_context():
        assert [_fail(first, "alice@example.org") for _ in range(LIMIT)] == [401] * LIMIT
        assert _fail(first, "alice@example.org") == 429
    second = make_app("sqlite", LOGIN_RATE_LIMIT=f"{LIMIT} per minute")
    with second.app_context():
        assert _fail(second, "alice@example.org") == 401


def test_each_app_counts_under_its_own_key_prefix(make_app: Any) -> None:
    """Flask-Limiter's one Limiter keeps the first key prefix its process saw; the tests
    make many apps in one process, each with its own Redis namespace."""
    with redis_settings() as earlier, redis_settings() as settings:
        make_app("sqlite", **earlier)
        app = make_app("sqlite", LOGIN_RATE_LIMIT=f"{LIMIT} per minute", **settings)
        with app.app_context():
            assert _fail(app, "alice@example.org") == 401
        assert namespace_keys(settings["RATELIMIT_KEY_PREFIX"])
        assert not namespace_keys(earlier["RATELIMIT_KEY_PREFIX"])
