"""Signing in and out with a password, registering, e-mail verification, password
reset and change. Each function owns its transaction and records its audit event
(never with a password, code or token in it).

A password change or reset ends every session and revokes every API token.

Verification and reset links are itsdangerous signatures with an expiry; a reset
link also carries a fingerprint of the current password hash and session version,
so it works once and dies when the password changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.accounts.models import ApiToken, User
from distserver.accounts.passwords import hash_cost, hash_password, needs_rehash, verify_password
from distserver.accounts.services import create_user, normalise_email, principal_for
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict, Unauthorized
from distserver.identity import Principal

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
VERIFY_MAX_AGE = 2 * 24 * 3600
RESET_MAX_AGE = 3600
# An Argon2id hash of a random password nobody kept, made with argon2-cffi's
# parameters: verified against when the e-mail is unknown, so a miss costs what a
# hit costs. A constant, because hashing at start-up slows every command and hashing
# on first use makes each process's first miss cost two hashes.
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$j5cHGOdARiEkKj85ZKvMXg"
    "$m7re5BjX3GsooOGTonl5J87fHRWgRJq4K8IJgESnz1c"
)
# The same for each PASSWORD_HASH_COST ("minimal": the tests' cost).
DUMMY_HASHES = {"rfc9106": DUMMY_HASH, "minimal": "$argon2id$v=19$m=8,t=1,p=1$XSzCWil8d+c$EZuYCg"}
_fresh_dummies: dict[str, str] = {}


def _dummy() -> str:
    """The dummy hash of the current PASSWORD_HASH_COST, or (if a new argon2-cffi hashes
    with other parameters, so that verifying it would cost something else) one made
    with the current parameters."""
    cost = hash_cost()
    if cost not in _fresh_dummies:
        kept = DUMMY_HASHES[cost]
        _fresh_dummies[cost] = hash_password("not-a-real-password") if needs_rehash(kept) else kept
    return _fresh_dummies[cost]


@dataclass(frozen=True)
class SignInAttempt:
    email: str
    address: str
    user_agent: str | None = None


def _signer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"distserver-{purpose}")


def check_password_rules(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadRequest(
            f"Passwords need {MIN_PASSWORD} to {MAX_PASSWORD} characters.", code="weak_password"
        )


def register(session: Session, email: str, password: str, address: str) -> User:
    """A self-registered account: unverified until its e-mail link is followed.
    Conflict when the address is taken, after the same password hash a new account
    costs, so the answer's timing does not tell whether the address has an account."""
    check_password_rules(password)
    try:
        return create_user(session, email, password=password, actor=Principal(address=address))
    except Conflict:
        hash_password(password)
        raise


def verification_token(user: User) -> str:
    return _signer("verify").dumps({"u": user.id, "e": user.email})


def _read_link(purpose: str, token: str, max_age: int, what: str, renew: str) -> dict[str, Any]:
    """The payload of a mailed link, or BadRequest saying it expired or is not valid."""
    try:
        return _signer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadRequest(f"This {what} has expired: {renew}.", code="expired") from None
    except BadSignature:
        raise BadRequest(f"This {what} is not valid.", code="invalid_link") from None


def verify_email(session: Session, token: str) -> User:
    data = _read_link("verify", token, VERIFY_MAX_AGE, "link", "sign in to get a new one")
    user = session.get(User, int(data["u"]))
    if user is None or user.email != data["e"]:
        raise BadRequest("This link is not valid.", code="invalid_link")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        record(session, EventTag.EMAIL_VERIFIED, principal_for(user, "web"), data={})
        session.commit()
    return user


def authenticate_password(session: Session, attempt: SignInAttempt, password: str) -> User:
    """The user whose e-mail and password these are, or Unauthorized. Every failure
    is an audit event naming the e-mail tried (never the password)."""
    try:
        email = normalise_email(attempt.email)
    except BadRequest:
        email = attempt.email.strip().lower()[:255]
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else _dummy(), password)
    reason = None
    if user is None or not ok:
        reason = "bad_credentials"
    elif user.suspended_at is not None:
        reason = "suspended"
    elif user.email_verified_at is None:
        reason = "email_unverified"
    if reason:
        actor = Principal(address=attempt.address, user_agent=attempt.user_agent, email=None)
        record(
            session,
            EventTag.LOGIN_FAILED,
            actor,
            reason=reason,
            data={"email": email, "method": "password"},
        )
        session.commit()
        if reason == "email_unverified":
            raise Unauthorized(
                "Confirm your e-mail address first: we sent you a new link.",
                code="email_unverified",
            )
        raise Unauthorized("Wrong e-mail or password.", code="bad_credentials")
    assert user is not None
    return user


def record_sign_in(
    session: Session, user: User, address: str, user_agent: str | None, method: str
) -> None:
    actor = principal_for(user, address, user_agent)
    record(session, EventTag.LOGIN_SUCCEEDED, actor, data={"method": method})
    session.commit()


def record_failed_second_factor(session: Session, user: User, address: str) -> None:
    actor = principal_for(user, address)
    record(session, EventTag.LOGIN_FAILED, actor, reason="bad_second_factor", data={})
    session.commit()


def end_sessions(session: Session, user: User, actor: Principal, *, why: str) -> None:
    """Bump the session version: every cookie issued before now stops working."""
    user.session_version += 1
    if why == "sign_out":
        record(session, EventTag.LOGOUT, actor, data={})
    session.commit()


def change_password(session: Session, user: User, current: str, new: str, actor: Principal) -> None:
    if not verify_password(user.password_hash, current):
        raise BadRequest("The current password is wrong.", code="bad_credentials")
    _set_password(session, user, new, actor, how="changed")


def reset_token(user: User) -> str:
    return _signer("reset").dumps({"u": user.id, "f": _reset_fingerprint(user)})


def _reset_fingerprint(user: User) -> str:
    material = f"{user.password_hash or ''}:{user.session_version}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def user_for_reset(session: Session, token: str) -> User:
    data = _read_link("reset", token, RESET_MAX_AGE, "reset link", "ask for a new one")
    user = session.get(User, int(data["u"]))
    if user is None or data["f"] != _reset_fingerprint(user) or user.suspended_at is not None:
        raise BadRequest("This reset link was already used or is not valid.", code="invalid_link")
    return user


def reset_password(session: Session, token: str, new: str, address: str) -> User:
    user = user_for_reset(session, token)
    # Following the mailed link proves the address, as verification would.
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    _set_password(session, user, new, principal_for(user, address), how="reset")
    return user


def _set_password(session: Session, user: User, new: str, actor: Principal, how: str) -> None:
    """Set the password and end everything the old one could have opened: every
    session (the version moves on) and every API token. A person changes or resets
    a password when someone else may have had it, and whoever had it could have
    minted tokens; a token outliving that would keep their access. Automation makes
    new tokens afterwards (the account page says so)."""
    check_password_rules(new)
    user.password_hash = hash_password(new)
    user.session_version += 1
    record(session, EventTag.PASSWORD_CHANGED, actor, data={"how": how})
    now = utcnow()
    live = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    for token in session.scalars(live):
        token.revoked_at = now
        record(
            session,
            EventTag.TOKEN_REVOKED,
            actor,
            data={"token_id": token.id, "why": f"password {how}"},
        )
    session.commit()


def find_by_email(session: Session, email: str) -> User | None:
    try:
        email = normalise_email(email)
    except BadRequest:
        return None
    return session.scalar(select(User).where(User.email == email))
