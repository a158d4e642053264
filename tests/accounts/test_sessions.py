"""Sessions that really end: a cookie replayed after sign-out, password change or
suspension is refused; suspension refuses tokens too; cookie-authenticated writes
without a CSRF token are refused, on a web form and on the API."""

from __future__ import annotations

from flask import Flask

from distserver.accounts.admin import suspend_user
from distserver.accounts.services import get_user, list_tokens, principal_for
from distserver.audit.tags import EventTag
from distserver.extensions import db
from tests.accounts.helpers import PASSWORD, csrf, session_cookie, sign_in, sign_out
from tests.support.world import World


def _replay(app: Flask, cookie: str, path: str = "/account") -> int:
    """A fresh client carrying only the copied cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief.get(path).status_code


def test_sign_in_issues_a_new_session_and_sign_out_kills_the_copied_cookie(
    app: Flask, world: World
) -> None:
    world.person("alice@example.org", password=PASSWORD)
    client = app.test_client()
    client.get("/login")
    before = session_cookie(client)
    assert sign_in(client, "alice@example.org").status_code == 302
    during = session_cookie(client)
    assert during != before
    assert client.get("/account").status_code == 200
    assert _replay(app, during) == 200  # the copy works while the session lives

    assert sign_out(client).status_code == 302
    assert client.get("/account").status_code == 302  # back to the sign-in page
    assert _replay(app, during) == 302, "a cookie replayed after sign-out was accepted"
    tags = [e.tag for e in world.events()]
    assert EventTag.LOGIN_SUCCEEDED in tags
    assert EventTag.LOGOUT in tags


def test_remember_cookie_dies_at_sign_out_too(app: Flask, world: World) -> None:
    world.person("alice@example.org", password=PASSWORD)
    client = app.test_client()
    sign_in(client, "alice@example.org", remember=True)
    remember = client.get_cookie("remember_token")
    assert remember is not None
    sign_out(client)
    thief = app.test_client()
    thief.set_cookie("remember_token", remember.value)
    assert thief.get("/account").status_code == 302


def test_password_change_ends_every_session(app: Flask, world: World) -> None:
    world.person("alice@example.org", password=PASSWORD)
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, "alice@example.org")
    sign_in(phone, "alice@example.org")
    copied = session_cookie(phone)
    token = csrf(laptop, "/account/password")
    answer = laptop.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current": PASSWORD,
            "password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
    )
    assert answer.status_code == 302
    assert phone.get("/account").status_code == 302
    assert _replay(app, copied) == 302
    assert sign_in(laptop, "alice@example.org").status_code == 401
    assert sign_in(laptop, "alice@example.org", "a brand new passphrase").status_code == 302


def test_suspension_refuses_sessions_and_tokens_on_the_next_request(
    app: Flask, world: World
) -> None:
    world.model("acme/llm")
    alice = world.person("alice@example.org", password=PASSWORD)
    boss = world.person("boss@example.org", roles=("admin",))
    client = app.test_client()
    sign_in(client, "alice@example.org")
    cookie = session_cookie(client)
    body = {"path": "config.json"}
    assert client.get("/account").status_code == 200
    assert (
        app.test_client()
        .post("/api/v1/models/acme/llm/links", json=body, headers=alice.auth)
        .status_code
        == 201
    )

    suspend_user(db.session, alice.user, principal_for(boss.user, "test"), "testing")

    assert client.get("/account").status_code == 302
    assert _replay(app, cookie) == 302
    refused = app.test_client().post("/api/v1/models/acme/llm/links", json=body, headers=alice.auth)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "suspended"
    hf = app.test_client().get("/api/models/acme/llm", headers=alice.auth)
    assert hf.status_code == 403
    assert sign_in(app.test_client(), "alice@example.org").status_code == 401
    (event,) = world.events(EventTag.USER_SUSPENDED)
    assert "alice@example.org" in event.data
    assert event.actor == "boss@example.org"


def test_cookie_writes_without_csrf_are_refused(app: Flask, world: World) -> None:
    world.model("acme/llm")
    world.person("alice@example.org", password=PASSWORD)
    client = app.test_client()
    sign_in(client, "alice@example.org")

    # A web form without its token: refused before the view runs, nothing created.
    page = client.post("/account/tokens", data={"name": "x", "scope": "read", "expires_days": 5})
    assert page.status_code == 400
    assert "text/html" in page.content_type
    assert "CSRF" in page.get_data(as_text=True)
    assert "x" not in [
        t.name for t in list_tokens(db.session, get_user(db.session, "alice@example.org"))
    ]
    assert client.post("/logout").status_code == 400  # sign-out is a write too

    # The API with only the session cookie and no X-CSRFToken.
    api = client.post("/api/v1/models/acme/llm/links", json={"path": "config.json"})
    assert api.status_code == 400
    assert api.json["error"]["code"] == "csrf_failed"

    # The same calls with the token succeed, so it was the token that was missing.
    token = csrf(client, "/account")
    ok = client.post(
        "/api/v1/models/acme/llm/links",
        json={"path": "config.json"},
        headers={"X-CSRFToken": token},
    )
    assert ok.status_code == 201


def test_empty_authorization_header_does_not_switch_off_csrf_for_cookie_sessions(
    app: Flask, world: World
) -> None:
    world.model("acme/llm")
    world.person("alice@example.org", password=PASSWORD)
    client = app.test_client()
    sign_in(client, "alice@example.org")
    body = {"path": "config.json"}
    for header in ("", "  "):
        api = client.post(
            "/api/v1/models/acme/llm/links", json=body, headers={"Authorization": header}
        )
        assert api.status_code == 400, header
        assert api.json["error"]["code"] == "csrf_failed", header
    assert world.events(EventTag.LINK_ISSUED) == []
