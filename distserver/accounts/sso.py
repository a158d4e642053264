"""Single sign-on with OpenID Connect (Authlib's Flask client): one client per
provider in the OIDC_PROVIDERS setting, configured by discovery. Authlib checks
state and nonce and the ID token's signature, issuer (against discovery) and
audience; we also insist that discovery names the configured issuer. Users are
found by (issuer, sub); an SSO identity joins an existing account only when the
provider vouches for the e-mail AND the account's owner confirms with its password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.accounts.models import SsoIdentity, User
from distserver.accounts.passwords import verify_password
from distserver.accounts.services import create_user, normalise_email, principal_for
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, ConfigError, Forbidden, Unauthorized
from distserver.identity import Principal

EXTENSION_KEY = "distserver.oauth"


@dataclass(frozen=True)
class Provider:
    name: str
    issuer: str
    label: str


@dataclass(frozen=True)
class SsoClaims:
    issuer: str
    subject: str
    email: str
    email_verified: bool


@dataclass(frozen=True)
class SsoOutcome:
    """Either the user to sign in, or an existing account that must confirm a link."""

    user: User | None = None
    link_to: User | None = None


def init_sso(app: Flask) -> None:
    entries = app.config.get("OIDC_PROVIDERS") or []
    if not entries:  # Authlib is a twentieth of each process's start-up: only SSO needs it
        app.extensions[EXTENSION_KEY] = (None, {})
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth()
    oauth.init_app(app)
    providers: dict[str, Provider] = {}
    for entry in entries:
        missing = {"name", "issuer", "client_id", "client_secret"} - set(entry)
        if missing:
            raise ConfigError(f"OIDC_PROVIDERS entry {entry.get('name')!r} lacks {sorted(missing)}")
        name, issuer = str(entry["name"]), str(entry["issuer"]).rstrip("/")
        if not name.isidentifier():
            raise ConfigError(f"OIDC provider name {name!r}: use letters, digits and _")
        oauth.register(
            name,
            client_id=entry["client_id"],
            client_secret=entry["client_secret"],
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid email"},
        )
        providers[name] = Provider(name, issuer, str(entry.get("label") or name))
    app.extensions[EXTENSION_KEY] = (oauth, providers)


def providers() -> dict[str, Provider]:
    return current_app.extensions[EXTENSION_KEY][1]


def client(name: str) -> tuple[Any, Provider]:
    oauth, known = current_app.extensions[EXTENSION_KEY]
    if name not in known:
        raise BadRequest("No such sign-in provider.", code="unknown_provider", status=404)
    return oauth.create_client(name), known[name]


def claims_from(token: dict[str, Any], provider: Provider, oauth_client: Any) -> SsoClaims:
    """The verified ID token's claims (Authlib validated them in the callback)."""
    info = token.get("userinfo") or {}
    issuer = str(oauth_client.load_server_metadata().get("issuer", "")).rstrip("/")
    if issuer != provider.issuer or str(info.get("iss", "")).rstrip("/") != provider.issuer:
        raise Unauthorized("The provider's issuer does not match its settings.", code="sso_failed")
    if not info.get("sub"):
        raise Unauthorized("The provider sent no subject.", code="sso_failed")
    email_claims: Any = info
    if not info.get("email"):
        # Many providers put scope claims only in the UserInfo response; it counts
        # only when it speaks of the same subject (OIDC Core 5.3.2).
        extra = oauth_client.userinfo(token=token)
        if str(extra.get("sub")) == str(info["sub"]):
            email_claims = extra
    return SsoClaims(
        issuer=provider.issuer,
        subject=str(info["sub"]),
        email=str(email_claims.get("email") or ""),
        email_verified=email_claims.get("email_verified") is True,
    )


def resolve_identity(session: Session, claims: SsoClaims, address: str) -> SsoOutcome:
    """The user for these claims: by (issuer, sub); else a new account; else (the
    e-mail belongs to an account) a link the account's owner must confirm."""
    identity = session.scalar(
        select(SsoIdentity).where(
            SsoIdentity.issuer == claims.issuer, SsoIdentity.subject == claims.subject
        )
    )
    if identity is not None:
        if identity.user.suspended_at is not None:
            raise Forbidden("Your account is suspended.", code="suspended")
        identity.last_login_at = utcnow()
        session.commit()
        return SsoOutcome(user=identity.user)
    email = normalise_email(claims.email) if claims.email else ""
    if not email:
        raise Unauthorized("The provider did not share an e-mail address.", code="sso_no_email")
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None:
        if not claims.email_verified or existing.email_verified_at is None:
            raise Forbidden(
                "An account with this e-mail exists, and the address is not verified on both "
                "sides: sign in with your password instead.",
                code="sso_link_refused",
            )
        return SsoOutcome(link_to=existing)
    user = create_user(
        session,
        email,
        actor=Principal(address=address),
        email_verified=claims.email_verified,
    )
    _add_identity(session, user, claims)
    return SsoOutcome(user=user)


def confirm_link(session: Session, user: User, claims: SsoClaims, password: str) -> User:
    """The explicit confirmation: the account's own password joins the identity."""
    if not verify_password(user.password_hash, password):
        raise Unauthorized("Wrong password.", code="bad_credentials")
    if user.suspended_at is not None:
        raise Forbidden("Your account is suspended.", code="suspended")
    _add_identity(session, user, claims)
    return user


def _add_identity(session: Session, user: User, claims: SsoClaims) -> None:
    session.add(
        SsoIdentity(
            user_id=user.id,
            issuer=claims.issuer,
            subject=claims.subject,
            email=claims.email,
            last_login_at=utcnow(),
        )
    )
    record(
        session,
        EventTag.SSO_LINKED,
        principal_for(user, "web"),
        data={"issuer": claims.issuer, "subject": claims.subject},
    )
    session.commit()
