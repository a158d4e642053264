"""A password reset and a password change revoke every API token of the user (and
say so), as they already end every session: whoever had the old password could
have minted tokens, and those must not outlive it."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask

from distserver.audit.tags import EventTag
from distserver.mail import read_outbox
from tests.accounts.helpers import PASSWORD, csrf, sign_in
from tests.support.world import World

NEW_PASSWORD = "a different horse battery"


def _api_answers(client: Any, token: str) -> int:
    return client.get("/api/v1/me/access", headers={"Authorization": f"Bearer {token}"}).status_code


def test_password_reset_revokes_every_api_token(app: Flask, world: World) -> None:
    alice = world.person("alice@example.org", password=PASSWORD)
    client = app.test_client()
    assert _api_answers(client, alice.token) == 200
    forgot = {"csrf_token": csrf(client, "/forgot"), "email": "alice@example.org"}
    assert client.post("/forgot", data=forgot).status_code == 302
    link = re.search(r"http://localhost(/reset/\S+)", read_outbox()[-1]["body"])
    assert link is not None
    page = link.group(1)
    form = {"csrf_token": csrf(client, page), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    done = client.post(page, data=form, follow_redirects=True)
    assert "every API token revoked" in done.get_data(as_text=True)
    assert _api_answers(client, alice.token) == 401
    revoked = world.events(EventTag.TOKEN_REVOKED)
    assert [json.loads(e.data)["why"] for e in revoked] == ["password reset"]


def test_password_change_revokes_every_api_token(app: Flask, world: World) -> None:
    bob = world.person("bob@example.org", password=PASSWORD)
    client = app.test_client()
    assert sign_in(client, "bob@example.org").status_code == 302
    form = {
        "csrf_token": csrf(client, "/account/password"),
        "current": PASSWORD,
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    done = client.post("/account/password", data=form, follow_redirects=True)
    assert "every API token revoked" in done.get_data(as_text=True)
    assert _api_answers(app.test_client(), bob.token) == 401
    assert [json.loads(e.data)["why"] for e in world.events(EventTag.TOKEN_REVOKED)] == [
        "password changed"
    ]
