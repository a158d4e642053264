"""TRUSTED_PROXY_COUNT: the client address that the audit log, the anonymous rate limit
and the sign-in throttle see. A direct client's forged X-Forwarded-For is ignored when
no proxy is trusted; with N proxies only the right-most N hops are believed."""

from __future__ import annotations

from typing import Any

import pytest

from distserver.audit.tags import EventTag
from distserver.errors import ConfigError
from tests.accounts.helpers import PASSWORD, sign_in
from tests.support.world import World

ASK = {"json": {"path": "config.json"}}
LINKS = "/api/v1/models/acme/open/links"


def _open_model_app(make_app: Any, tmp_path: Any, **settings: Any) -> Any:
    app = make_app("sqlite", **settings)
    with app.app_context():
        World(app, tmp_path / "src").model("acme/open", plan="open", stage=None)
    return app


def _link_address(app: Any, forwarded: str | None, peer: str = "10.9.9.9") -> str | None:
    client = app.test_client()
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    response = client.post(LINKS, headers=headers, environ_base={"REMOTE_ADDR": peer}, **ASK)
    assert response.status_code == 201, response.json
    with app.app_context():
        return World.events(EventTag.LINK_ISSUED)[-1].address


def test_forged_forwarded_for_is_ignored_without_trusted_proxies(make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = _open_model_app(make_app, tmp_path)
    assert _link_address(app, "203.0.113.7") == "10.9.9.9"


def test_only_the_rightmost_trusted_hops_are_believed(make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    one = _open_model_app(make_app, tmp_path / "one", TRUSTED_PROXY_COUNT=1)
    # The client forged 6.6.6.6; the one trusted proxy appended the real 203.0.113.5.
    assert _link_address(one, "6.6.6.6, 203.0.113.5") == "203.0.113.5"
    two = _open_model_app(make_app, tmp_path / "two", TRUSTED_PROXY_COUNT=2)
    assert _link_address(two, "6.6.6.6, 203.0.113.5, 10.0.0.2") == "203.0.113.5"
    # Fewer hops than trusted proxies: nothing in the header is believed.
    assert _link_address(two, "6.6.6.6") == "10.9.9.9"


def test_anonymous_limit_counts_per_forwarded_client(make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = _open_model_app(
        make_app, tmp_path, TRUSTED_PROXY_COUNT=1, ANONYMOUS_RATE_LIMIT="2 per minute"
    )
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the one proxy

    def ask(real: str, forged: str = "") -> int:
        hops = f"{forged}, {real}" if forged else real
        headers = {"X-Forwarded-For": hops}
        return client.post(LINKS, headers=headers, environ_base=proxy, **ASK).status_code

    assert [ask("198.51.100.1"), ask("198.51.100.1")] == [201, 201]
    assert ask("198.51.100.1") == 429
    # Forging a left-hand hop does not buy a fresh budget; another real client has one.
    assert ask("198.51.100.1", forged="192.0.2.99") == 429
    assert [ask("198.51.100.2"), ask("198.51.100.2")] == [201, 201]


def test_direct_clients_cannot_forge_a_fresh_anonymous_budget(make_app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = _open_model_app(make_app, tmp_path, ANONYMOUS_RATE_LIMIT="2 per minute")
    client = app.test_client()
    direct = {"REMOTE_ADDR": "198.51.100.1"}
    statuses = [
        client.post(
            LINKS, headers={"X-Forwarded-For": f"192.0.2.{i}"}, environ_base=direct, **ASK
        ).status_code
        for i in range(3)
    ]
    assert statuses == [201, 201, 429]


def test_sign_in_throttle_counts_per_forwarded_client(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", TRUSTED_PROXY_COUNT=1, LOGIN_RATE_LIMIT="2 per minute")
    with app.app_context():
        World(app, app.instance_path).person("alice@example.org", password=PASSWORD)

    def fail(real: str, email: str) -> int:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.0.0.2"
        client.environ_base["HTTP_X_FORWARDED_FOR"] = real
        return sign_in(client, email, "wrong password!").status_code

    assert [fail("198.51.100.1", f"u{i}@example.org") for i in range(2)] == [401, 401]
    assert fail("198.51.100.1", "u9@example.org") == 429
    assert fail("198.51.100.2", "v@example.org") == 401  # another client behind the proxy
    with app.app_context():
        addresses = {e.address for e in World.events(EventTag.LOGIN_FAILED)}
    assert addresses == {"198.51.100.1", "198.51.100.2"}


@pytest.mark.parametrize("bad", [-1, "two", True])
def test_a_bad_trusted_proxy_count_stops_start_up_with_a_sentence(make_app, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_COUNT"):
        make_app("sqlite", TRUSTED_PROXY_COUNT=bad)
