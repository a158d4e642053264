"""Accounts: users, roles and API tokens. Each function owns its transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from distserver.accounts import tokens
from distserver.accounts.models import STAFF_ROLES, ApiToken, User, UserRole
from distserver.accounts.passwords import hash_password
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from distserver.identity import Principal

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{1,63}$")
SCOPES = frozenset({"read", "manage"})
MAX_TOKEN_DAYS = 366
# Writing last_used_at on every request would make each download two writes.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    raw: str


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise BadRequest(f"{email!r} is not an e-mail address.", code="invalid_email")
    return email


def get_user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No user with e-mail {email}.", code="user_not_found")
    return user


def principal_for(
    user: User | None,
    address: str,
    user_agent: str | None = None,
    token_id: int | None = None,
    *,
    second_factor: bool | None = None,
) -> Principal:
    """The principal for `user` (None: anonymous at `address`). `second_factor`
    None means "the user has TOTP enrolled" (tokens, the CLI); a web session passes
    whether it was proved in this session (see distserver/identity.py)."""
    if user is None:
        return Principal(address=address, user_agent=user_agent)
    return Principal(
        address=address,
        user_id=user.id,
        email=user.email,
        roles=user.role_names,
        suspended=user.suspended_at is not None,
        token_id=token_id,
        user_agent=user_agent,
        second_factor=user.totp_enabled if second_factor is None else second_factor,
    )


def create_user(
    session: Session,
    email: str,
    *,
    roles: tuple[str, ...] = (),
    password: str | None = None,
    display_name: str = "",
    actor: Principal | None = None,
    email_verified: bool = False,
) -> User:
    """Create a user (Conflict if the e-mail is taken). `email_verified` for accounts
    an operator or an identity provider vouches for; self-registered ones verify
    through the link mailed to them."""
    email = normalise_email(email)
    unknown = set(roles) - set(STAFF_ROLES)
    if unknown:
        raise BadRequest(
            f"Unknown role {sorted(unknown)[0]!r}; roles are {', '.join(STAFF_ROLES)}."
        )
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with e-mail {email} already exists.", code="user_exists")
    if password is not None and len(password) < 10:
        raise BadRequest("Passwords need at least 10 characters.", code="weak_password")
    user = User(
        email=email,
        display_name=display_name or email.split("@")[0],
        password_hash=hash_password(password) if password else None,
        roles=[UserRole(role=r) for r in sorted(set(roles))],
        email_verified_at=utcnow() if email_verified else None,
    )
    session.add(user)
    session.flush()
    record(session, EventTag.USER_CREATED, actor, data={"email": email, "roles": sorted(roles)})
    session.commit()
    return user


def create_token(
    session: Session,
    user: User,
    *,
    name: str,
    expires_days: int | None = 90,
    scopes: tuple[str, ...] = ("read",),
    actor: Principal | None = None,
    second_factor: bool | None = None,
) -> NewToken:
    """A new token for `user`, returned raw once. `second_factor` says whether the
    creating session proved the user's second factor; None means an operator at the
    server's shell, who vouches for the user's enrolment (the token counts as proved
    when the user has one enrolled). A `manage` token for a user who has a staff role
    or an enrolled factor needs a proved one: a session restored from the remember
    cookie cannot mint what it could not do itself."""
    operator = second_factor is None
    proved = user.totp_enabled and (operator or bool(second_factor))
    if (
        not operator
        and "manage" in scopes
        and not proved
        and (user.role_names or user.totp_enabled)
    ):
        raise Forbidden(
            "A token with the manage scope needs your second factor: "
            + (
                "sign in again with your authenticator code, then create it."
                if user.totp_enabled
                else "enrol an authenticator app on your account page first."
            ),
            code="second_factor_required",
        )
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise BadRequest("A token needs a name of 1 to 100 characters.", code="invalid_name")
    if set(scopes) - SCOPES:
        raise BadRequest(f"Scopes are {', '.join(sorted(SCOPES))}.", code="invalid_scope")
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise BadRequest(
            f"Token lifetime must be 1 to {MAX_TOKEN_DAYS} days.", code="invalid_expiry"
        )
    exists = select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.name == name)
    if session.scalar(exists) is not None:
        raise Conflict(f"You already have a token named {name!r}.", code="token_exists")
    raw = tokens.generate()
    token = ApiToken(
        user_id=user.id,
        name=name,
        display_prefix=tokens.display_prefix(raw),
        token_hash=tokens.token_hash(raw),
        scopes=" ".join(sorted(set(scopes))),
        expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None,
        second_factor=proved,
    )
    session.add(token)
    session.flush()
    record(
        session,
        EventTag.TOKEN_CREATED,
        actor or principal_for(user, "local"),
        data={
            "token_id": token.id,
            "name": name,
            "prefix": token.display_prefix,
            "second_factor": proved,
        },
    )
    session.commit()
    return NewToken(token, raw)


def list_tokens(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked ones included, marked)."""
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def revoke_token(session: Session, user: User, token_id: int, actor: Principal) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise NotFound("No such token.", code="token_not_found")
    token.revoked_at = utcnow()
    record(session, EventTag.TOKEN_REVOKED, actor, data={"token_id": token.id})
    session.commit()


def authenticate_token(session: Session, raw: str, now: datetime | None = None) -> ApiToken:
    """The live token for `raw`, or Unauthorized saying why. Malformed tokens are
    refused before any query."""
    if not tokens.well_formed(raw):
        raise Unauthorized(
            "The token is malformed: check that it was copied whole.", code="invalid_token"
        )
    now = now or utcnow()
    # One round trip: the token, its user and the user's roles.
    query = (
        select(ApiToken)
        .where(ApiToken.token_hash == tokens.token_hash(raw))
        .options(joinedload(ApiToken.user).joinedload(User.roles))
    )
    token = session.execute(query).unique().scalar_one_or_none()
    if token is not None and token.revoked_at is not None:
        from distserver.alerts.service import brake_refusal

        braked = brake_refusal(session, token)
        if braked:  # an alert's brake: say why and whom to ask
            raise Forbidden(braked, code="braked")
    if token is None or token.revoked_at is not None:
        raise Unauthorized("The token is not valid or was revoked.", code="invalid_token")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthorized("The token has expired: create a new one.", code="token_expired")
    if token.user.suspended_at is not None:
        # Suspension ends every token on the next request, whatever the door.
        raise Forbidden("Your account is suspended.", code="suspended")
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    return token
