"""The web pages end to end through Flask's client: register, verify from the
outbox, sign in, tokens (shown once, listed, revoked), password reset, the admin
page and CLI, security headers, and HTML error pages beside the APIs' JSON."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from flask import Flask

from distserver.accounts.services import authenticate_token, get_user
from distserver.audit.tags import EventTag
from distserver.cli import main
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.mail import read_outbox
from tests.accounts.helpers import PASSWORD, csrf, csrf_from, sign_in
from tests.support.world import World

LINK = re.compile(r"http://localhost(/\S+)")


def _last_link() -> str:
    match = LINK.search(read_outbox()[-1]["body"])
    assert match
    return match.group(1)


def test_register_verify_sign_in_and_manage_tokens(app: Flask, world: World) -> None:
    client = app.test_client()
    form = {"email": "Nia@Example.org", "password": PASSWORD, "confirm": PASSWORD}
    answer = client.post("/register", data={"csrf_token": csrf(client, "/register"), **form})
    assert answer.status_code == 302
    assert sign_in(client, "nia@example.org").status_code == 401  # not verified yet
    assert client.get(_last_link()).status_code == 302
    assert get_user(db.session, "nia@example.org").email_verified_at is not None
    assert sign_in(client, "nia@example.org").status_code == 302

    page = client.post(
        "/account/tokens",
        data={
            "csrf_token": csrf(client, "/account"),
            "name": "laptop",
            "scope": "read",
            "expires_days": "30",
        },
    )
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    raw = re.search(r'id="new-token">(dst_\w+)<', html).group(1)  # type: ignore[union-attr]
    token = authenticate_token(db.session, raw)
    assert token.name == "laptop"
    assert raw not in client.get("/account").get_data(as_text=True)
    assert token.display_prefix in client.get("/account").get_data(as_text=True)

    revoke = f"/account/tokens/{token.id}/revoke"
    assert client.post(revoke, data={"csrf_token": csrf(client, "/account")}).status_code == 302
    with pytest.raises(DistserverError) as refused:
        authenticate_token(db.session, raw)
    assert refused.value.code == "invalid_token"
    tags = [e.tag for e in world.events()]
    assert EventTag.TOKEN_CREATED in tags
    assert EventTag.TOKEN_REVOKED in tags
    for event in world.events():
        assert raw not in event.data
        assert PASSWORD not in event.data


def test_password_reset_through_the_outbox(app: Flask, world: World) -> None:
    world.person("alice@example.org", password=PASSWORD)
    client = app.test_client()
    asked = client.post(
        "/forgot", data={"csrf_token": csrf(client, "/forgot"), "email": "alice@example.org"}
    )
    assert asked.status_code == 302
    link = _last_link()
    new = "another long passphrase"
    form = {"csrf_token": csrf(client, link), "password": new, "confirm": new}
    assert client.post(link, data=form).status_code == 302
    assert sign_in(app.test_client(), "alice@example.org", new).status_code == 302
    assert client.get(link).status_code == 302  # used once: back to "forgot"
    unknown = client.post(
        "/forgot", data={"csrf_token": csrf(client, "/forgot"), "email": "nobody@example.org"}
    )
    assert unknown.status_code == 302  # same answer, no mail
    assert len(read_outbox()) == 1


def test_admin_page_assigns_roles_and_suspends(app: Flask, world: World) -> None:
    boss = world.person("boss@example.org", roles=("admin",), password=PASSWORD)
    alice = world.person("alice@example.org", password=PASSWORD)
    client = app.test_client()
    sign_in(client, "boss@example.org", totp_secret=boss.totp_secret)
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert "alice@example.org" in page.get_data(as_text=True)
    token = csrf_from(page.get_data(as_text=True))
    uid = alice.user.id
    client.post(
        f"/admin/users/{uid}/role", data={"csrf_token": token, "role": "reviewer", "action": "add"}
    )
    db.session.expire_all()
    assert get_user(db.session, "alice@example.org").role_names == {"reviewer"}
    client.post(f"/admin/users/{uid}/suspend", data={"csrf_token": token})
    db.session.expire_all()
    assert get_user(db.session, "alice@example.org").suspended_at is not None
    assert [e.tag for e in world.events(EventTag.ROLE_CHANGED)] == [EventTag.ROLE_CHANGED]

    other = app.test_client()
    sign_in(other, "alice@example.org")
    assert other.get("/admin/users").status_code == 302


def test_users_cli_role_and_suspend(app: Flask, world: World) -> None:
    world.person("boss@example.org", roles=("admin",))
    world.person("bare@example.org", roles=("admin",), second_factor=False)
    world.person("alice@example.org")
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, ["users", *args], obj=_script_info(app))

    refused = run("role", "alice@example.org", "--add", "safety", "--as", "bare@example.org")
    assert refused.exit_code == 1
    assert "second factor" in refused.output
    ok = run("role", "alice@example.org", "--add", "safety", "--as", "boss@example.org")
    assert ok.exit_code == 0
    assert "safety" in ok.output
    assert run("suspend", "alice@example.org", "--as", "boss@example.org").exit_code == 0
    db.session.expire_all()
    assert get_user(db.session, "alice@example.org").suspended_at is not None


def _script_info(app: Flask):  # type: ignore[no-untyped-def]
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def test_security_headers_and_error_pages(app: Flask, world: World) -> None:
    client = app.test_client()
    for path in ("/", "/login", "/nope", "/api/v1/models"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"], path
        assert "unsafe-inline" not in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"]
        assert headers["Strict-Transport-Security"].startswith("max-age=")
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert "text/html" in page.content_type
    assert "<h1>Not found</h1>" in page.get_data(as_text=True)
    api = client.get("/api/v1/models/acme/none")
    assert api.status_code == 404
    assert api.json["error"]["code"]
    hub = client.get("/api/models/acme/none")
    assert hub.status_code == 404
    assert "text/html" not in hub.content_type
    assert client.get("/account").status_code == 302  # sign-in page, with next
    assert client.get("/account").location.startswith("/login?next=")
    cookie = [c for c in client.post("/login").headers.getlist("Set-Cookie")]
    for value in cookie:
        assert "HttpOnly" in value
        assert "SameSite=Lax" in value
