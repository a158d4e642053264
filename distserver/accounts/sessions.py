"""Who is asking: the Bearer token, the signed-in session, or an anonymous address."""

from __future__ import annotations

from flask import Flask, request
from flask import session as web_session
from flask_login import current_user, user_loaded_from_cookie
from sqlalchemy.orm import Session, joinedload

from distserver.accounts.models import User
from distserver.accounts.services import authenticate_token, principal_for
from distserver.errors import Forbidden, Unauthorized
from distserver.extensions import db, login_manager
from distserver.identity import Principal
from distserver.inputs import parse_int

PRINCIPAL_KEY = "distserver.principal"
# Set in the session when the user proved their TOTP in it (sign-in or enrolment).
SECOND_FACTOR_KEY = "second_factor"


def _restored_from_cookie(sender: object, user: User, **extra: object) -> None:
    # A session rebuilt from the remember cookie: bind it to this client (without
    # "_id", strong session protection would wipe it on the next request) and
    # leave the second factor unproved until a code is entered again.
    web_session["_id"] = login_manager._session_identifier_generator()
    web_session[SECOND_FACTOR_KEY] = False


def init_sessions(app: Flask) -> None:
    login_manager.session_protection = "strong"
    user_loaded_from_cookie.connect(_restored_from_cookie)

    @login_manager.user_loader
    def load_user(alternative_id: str) -> User | None:
        raw_id, _, raw_version = alternative_id.partition(":")
        user_id, version = parse_int(raw_id), parse_int(raw_version)
        if user_id is None or version is None:
            return None
        # The roles in the same statement: every signed-in page reads them.
        user = db.session.get(User, user_id, options=[joinedload(User.roles)])
        if user is None or user.session_version != version or user.suspended_at is not None:
            return None
        return user


def bearer_token_sent() -> bool:
    """Whether this request really carries a Bearer token. An empty or blank
    Authorization header is no token: such a caller is whoever its cookie (or its
    absence) says, so it is not exempt from CSRF or the anonymous budget."""
    kind, _, raw = request.headers.get("Authorization", "").strip().partition(" ")
    return kind.lower() == "bearer" and bool(raw.strip())


def client_address() -> str:
    return request.remote_addr or "unknown"


def current_principal(session: Session | None = None, *, scope: str = "read") -> Principal:
    """The principal of this request, computed once. A bad Bearer token is refused
    outright rather than treated as anonymous."""
    cached = request.environ.get(PRINCIPAL_KEY)
    if cached is not None:
        principal, cached_scopes = cached
        if cached_scopes is not None and scope not in cached_scopes:
            raise Forbidden(f"This token lacks the {scope!r} scope.", code="insufficient_scope")
        return principal
    session = session or db.session
    ua = request.headers.get("User-Agent")
    scopes: frozenset[str] | None = None  # None: not a token, so no token scope applies
    header = request.headers.get("Authorization", "").strip()
    if header:  # blank is no credential at all; anything else must be a valid Bearer token
        kind, _, raw = header.partition(" ")
        if kind.lower() != "bearer" or not raw.strip():
            raise Unauthorized("Use 'Authorization: Bearer <token>'.", code="invalid_token")
        token = authenticate_token(session, raw.strip())
        scopes = frozenset(token.scopes.split())
        # A token proves no more than the session that created it did.
        proved = token.second_factor and token.user.totp_enabled
        principal = principal_for(token.user, client_address(), ua, token.id, second_factor=proved)
        request.environ[PRINCIPAL_KEY] = (principal, scopes)
        if scope not in scopes:
            raise Forbidden(f"This token lacks the {scope!r} scope.", code="insufficient_scope")
    elif current_user.is_authenticated:
        proved = current_user.totp_enabled and web_session.get(SECOND_FACTOR_KEY) is True
        principal = principal_for(current_user, client_address(), ua, second_factor=proved)
    else:
        principal = principal_for(None, client_address(), ua)
    request.environ[PRINCIPAL_KEY] = (principal, scopes)
    return principal
