"""Done-when 1b: in chromium, a person signs in through the real OpenID Connect
provider (npm oidc-provider on loopback): our login page's SSO button, the
provider's login and consent pages, back to our callback, signed in."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from distserver.accounts.models import SsoIdentity
from distserver.audit.models import AuditEvent
from distserver.audit.tags import EventTag
from distserver.extensions import db
from tests.browser.conftest import LiveServer

OP_DIR = Path(__file__).resolve().parent.parent / "oidc"
CLIENT_ID, CLIENT_SECRET = "distserver", "browser-test-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def provider_port() -> int:
    assert (OP_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "the OIDC provider's npm packages are missing: run `make test` (npm ci in tests/oidc)"
    )
    return _free_port()


@pytest.fixture
def sso_server(make_live_server: Any, provider_port: int) -> Iterator[LiveServer]:
    issuer = f"http://127.0.0.1:{provider_port}"
    live = make_live_server(
        OIDC_PROVIDERS=[
            {
                "name": "labsso",
                "label": "Lab SSO",
                "issuer": issuer,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            }
        ]
    )
    callback = live.at("/sso/labsso/callback")
    proc = subprocess.Popen(
        ["node", "op.mjs", str(provider_port), CLIENT_ID, CLIENT_SECRET, callback],
        cwd=OP_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(80):
            try:
                with urllib.request.urlopen(
                    f"{issuer}/.well-known/openid-configuration", timeout=2
                ):
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.25)
        else:
            raise AssertionError("the OIDC provider (node tests/oidc/op.mjs) did not start in 20 s")
        yield live
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sign_in_through_the_oidc_provider(sso_server: LiveServer, page: Any) -> None:
    page.goto(sso_server.at("/login?next=/account"))
    page.click("text=Lab SSO")
    # The provider's own development pages: any login name, then consent.
    page.wait_for_selector("input[name=login]")
    page.fill("input[name=login]", "grace")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_selector("button[type=submit]:has-text('Continue')")
    page.click("button[type=submit]:has-text('Continue')")
    page.wait_for_url(sso_server.at("/account"))
    assert "grace@sso.example.org" in page.inner_text("header")

    with sso_server.app.app_context():
        (identity,) = db.session.scalars(select(SsoIdentity)).all()
        assert identity.issuer.startswith("http://127.0.0.1:")
        assert identity.subject == "grace"
        assert identity.user.email == "grace@sso.example.org"
        assert identity.user.email_verified_at is not None
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.tag == str(EventTag.LOGIN_SUCCEEDED))
        ).all()
        assert [e.actor for e in events] == ["grace@sso.example.org"]
        assert "sso:labsso" in events[0].data

    # Signing out and in again finds the same account by (issuer, sub).
    page.click("text=Sign out")
    page.goto(sso_server.at("/login"))
    page.click("text=Lab SSO")
    page.wait_for_load_state()
    if page.locator("input[name=login]").count():
        page.fill("input[name=login]", "grace")
        page.fill("input[name=password]", "anything")
        page.click("button[type=submit]")
    if page.locator("button:has-text('Continue')").count():
        page.click("button:has-text('Continue')")
    page.wait_for_url(sso_server.url + "/")
    assert "grace@sso.example.org" in page.inner_text("header")
    with sso_server.app.app_context():
        assert len(db.session.scalars(select(SsoIdentity)).all()) == 1
