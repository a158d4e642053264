"""Done-when 1a: in chromium, a person registers, confirms the e-mail from the
outbox, signs in, creates an API token (shown once), and signs out."""

from __future__ import annotations

import re
from typing import Any

from distserver.accounts.services import authenticate_token
from distserver.extensions import db
from distserver.mail import read_outbox
from tests.browser.conftest import LiveServer

PASSWORD = "a long and careful passphrase"


def test_register_verify_sign_in_create_token_sign_out(live_server: LiveServer, page: Any) -> None:
    page.goto(live_server.at("/"))
    page.click("text=Register")
    page.fill("input[name=email]", "rosa@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("input[type=submit]")
    assert "Check your e-mail" in page.inner_text("ul.flashes")

    with live_server.app.app_context():
        (mail,) = read_outbox()
    assert mail["to"] == "rosa@example.org"
    link = re.search(r"http://\S+/verify/\S+", mail["body"]).group(0)  # type: ignore[union-attr]
    assert link.startswith(live_server.url)
    page.goto(link)
    assert "confirmed" in page.inner_text("ul.flashes")

    page.fill("input[name=email]", "rosa@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.click("text=rosa@example.org")
    assert page.url == live_server.at("/account")

    page.fill("input[name=name]", "my laptop")
    page.select_option("select[name=scope]", "read")
    page.fill("input[name=expires_days]", "30")
    page.click("text=Create token")
    raw = page.inner_text("#new-token").strip()
    assert raw.startswith("dst_")
    assert "my laptop" in page.inner_text("#tokens")
    with live_server.app.app_context():
        assert authenticate_token(db.session, raw).name == "my laptop"
    page.goto(live_server.at("/account"))  # shown once: not on the page any more
    assert raw not in page.content()

    page.click("text=Sign out")
    assert "You are signed out" in page.inner_text("ul.flashes")
    page.goto(live_server.at("/account"))
    assert "/login" in page.url
