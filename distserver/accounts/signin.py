"""Web sign-in mechanics: starting and ending a session, the pending state between
password (or SSO) and TOTP, and `next` targets that stay on this site."""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app, g, request, session, url_for
from flask_login import login_user, logout_user

from distserver.accounts.auth import end_sessions, record_sign_in
from distserver.accounts.models import User
from distserver.accounts.services import principal_for
from distserver.accounts.sessions import SECOND_FACTOR_KEY, client_address
from distserver.extensions import db

PENDING_KEY = "pending_sign_in"
# A local path: one slash, then anything printable except backslash; no scheme,
# host, whitespace or control character can sneak in.
_SAFE_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@/?%#]*$")


def safe_next(target: str | None, default: str | None = None) -> str:
    """`target` if it is a path on this site, else `default` (the home page)."""
    fallback = default or url_for("web.home")
    if not target or len(target) > 2000:
        return fallback
    candidate = target
    for _ in range(3):  # decoded forms must be safe too (%2F%2F, %5C ...)
        if not _SAFE_PATH.match(candidate):
            return fallback
        if unicodedata.normalize("NFKC", candidate) != candidate:
            return fallback
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return fallback
        decoded = unquote(candidate)
        if decoded == candidate:
            break
        candidate = decoded
    else:
        return fallback
    return target


def fresh_session() -> None:
    """Drop everything the session held, and the CSRF token cached for this request
    (Flask-WTF keeps it in `g`), so nothing from before carries over."""
    session.clear()
    g.pop("csrf_token", None)


def begin_pending(user: User, method: str, remember: bool, next_url: str) -> None:
    """Password (or SSO) proved; the TOTP is still to come. Nothing signed in yet."""
    fresh_session()
    session[PENDING_KEY] = {
        "user": user.id,
        "version": user.session_version,
        "method": method,
        "remember": remember,
        "next": next_url,
    }


def pending_user() -> tuple[User, dict[str, Any]] | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    user = db.session.get(User, int(pending.get("user", 0)))
    if user is None or user.session_version != pending.get("version") or not user.is_active:
        return None
    return user, pending


def start_session(user: User, *, method: str, remember: bool, second_factor: bool) -> None:
    """A new session: the old cookie's contents are dropped (no fixation), a fresh
    random id is stored, and the sign-in is an audit event."""
    fresh_session()
    duration = current_app.config["REMEMBER_COOKIE_DURATION"]
    login_user(user, remember=remember, duration=duration, fresh=True)
    session["sid"] = secrets.token_urlsafe(16)
    session[SECOND_FACTOR_KEY] = bool(second_factor and user.totp_enabled)
    record_sign_in(db.session, user, client_address(), request.headers.get("User-Agent"), method)


def sign_out(user: User) -> None:
    actor = principal_for(user, client_address(), request.headers.get("User-Agent"))
    logout_user()
    fresh_session()
    end_sessions(db.session, user, actor, why="sign_out")
