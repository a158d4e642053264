"""Driving the sign-in pages with Flask's test client, CSRF tokens included."""

from __future__ import annotations

import re
from urllib.parse import quote

import pyotp
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def csrf(client: FlaskClient, page: str = "/login") -> str:
    return csrf_from(client.get(page).get_data(as_text=True))


def sign_in(
    client: FlaskClient,
    email: str,
    password: str = PASSWORD,
    *,
    next_url: str | None = None,
    totp_secret: str | None = None,
    totp_code: str | None = None,
    remember: bool = False,
) -> TestResponse:
    """Post the sign-in form (and the TOTP step when a secret is given). `next_url`
    goes both into the page's query string and, as a form would carry it, the post."""
    page = "/login" + (f"?next={quote(next_url, safe='')}" if next_url is not None else "")
    token = csrf(client, page)
    data = {"csrf_token": token, "email": email, "password": password}
    if next_url is not None:
        data["next"] = next_url
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data)
    if (totp_secret or totp_code) and response.status_code == 302:
        assert "/login/code" in response.location
        code = totp_code or pyotp.TOTP(totp_secret or "").now()
        code_token = csrf(client, "/login/code")
        response = client.post("/login/code", data={"csrf_token": code_token, "code": code})
    return response


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def sign_out(client: FlaskClient) -> TestResponse:
    return client.post("/logout", data={"csrf_token": csrf(client, "/account")})
