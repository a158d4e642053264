"""`distserver users ...` and `distserver tokens ...`."""

from __future__ import annotations

import sys

import click
import pyotp
from flask.cli import with_appcontext
from sqlalchemy import select

from distserver.accounts.admin import change_role, suspend_user, unsuspend_user
from distserver.accounts.models import STAFF_ROLES, User, UserRole
from distserver.accounts.services import (
    create_token,
    create_user,
    get_user,
    list_tokens,
    revoke_token,
)
from distserver.cli_arguments import actor, as_option
from distserver.cli_lists import emit, json_option
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict, Forbidden
from distserver.extensions import db


@click.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(STAFF_ROLES),
    help="A staff role (repeatable).",
)
@click.option("--password-stdin", is_flag=True, help="Read a password from standard input.")
@as_option
@with_appcontext
def users_create(
    email: str, roles: tuple[str, ...], password_stdin: bool, as_email: str | None
) -> None:
    """Create a user."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise BadRequest("--password-stdin was given but standard input was empty.")
    # The operator vouches for the address, so it counts as verified.
    user = create_user(
        db.session,
        email,
        roles=roles,
        password=password,
        actor=actor(as_email),
        email_verified=True,
    )
    click.echo(f"created {user.email}" + (f" ({', '.join(sorted(roles))})" if roles else ""))


@users.command("suspend")
@click.argument("email")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.option("--lift", is_flag=True, help="Lift the suspension instead.")
@as_option
@with_appcontext
def users_suspend(email: str, reason: str, lift: bool, as_email: str | None) -> None:
    """Suspend a user: their sessions and tokens stop working at once."""
    user = get_user(db.session, email)
    if lift:
        unsuspend_user(db.session, user, actor(as_email))
        click.echo(f"{user.email} is no longer suspended")
        return
    suspend_user(db.session, user, actor(as_email), reason)
    click.echo(f"suspended {user.email}")


@users.command("role")
@click.argument("email")
@click.option("--add", "add_roles", multiple=True, type=click.Choice(STAFF_ROLES))
@click.option("--remove", "remove_roles", multiple=True, type=click.Choice(STAFF_ROLES))
@as_option
@with_appcontext
def users_role(
    email: str, add_roles: tuple[str, ...], remove_roles: tuple[str, ...], as_email: str | None
) -> None:
    """Add or remove staff roles."""
    if not add_roles and not remove_roles:
        raise click.UsageError("Give --add ROLE or --remove ROLE.")
    user = get_user(db.session, email)
    who = actor(as_email)
    for role in add_roles:
        change_role(db.session, user, role, add=True, actor=who)
    for role in remove_roles:
        change_role(db.session, user, role, add=False, actor=who)
    click.echo(f"{user.email}: {', '.join(sorted(user.role_names)) or 'no staff role'}")


@users.command("list")
@click.option("--role", type=click.Choice(STAFF_ROLES), default=None, help="Only this role.")
@click.option("--search", default="", help="Part of the e-mail address.")
@json_option
@with_appcontext
def users_list(role: str | None, search: str, as_json: bool) -> None:
    """List users: e-mail, roles, suspended, second factor, created."""
    query = select(User).order_by(User.email)
    if search.strip():
        query = query.where(User.email.contains(search.strip().lower(), autoescape=True))
    if role:
        query = query.where(User.roles.any(UserRole.role == role))
    rows = [
        {
            "email": u.email,
            "roles": sorted(u.role_names),
            "suspended": u.suspended_at is not None,
            "second_factor": u.totp_enabled,
            "created_at": u.created_at,
        }
        for u in db.session.scalars(query)
    ]
    columns = ("email", "roles", "suspended", "second_factor", "created_at")
    emit(rows, columns, as_json=as_json, empty="No users match.")


@users.command("totp-code")
@click.argument("email")
@with_appcontext
def users_totp_code(email: str) -> None:
    """Print a staff user's current authenticator code (development only: the demo)."""
    from flask import current_app

    from distserver.accounts import totp

    if current_app.config.get("ENV") != "development":
        raise Forbidden(
            "totp-code works in development only (the demo); elsewhere the code comes "
            "from the user's own authenticator app.",
            code="development_only",
        )
    user = get_user(db.session, email)
    if not user.totp_enabled or user.totp_secret is None:
        raise BadRequest(f"{user.email} has no authenticator enrolled.", code="not_enrolled")
    code = pyotp.TOTP(totp.decrypt_secret(user.totp_secret))
    step = code.timecode(utcnow())
    # A code is accepted once: after a sign-in in this 30-second step, the next step's
    # code (inside the accepted window) is the one that works.
    if user.totp_last_step is not None and step <= user.totp_last_step:
        step = user.totp_last_step + 1
    if step > code.timecode(utcnow()) + totp.VALID_WINDOW:
        raise Conflict("This code was just used: try again in 30 seconds.", code="code_used")
    click.echo(code.generate_otp(step))


@click.group()
def tokens() -> None:
    """Manage API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--expires-days", type=click.IntRange(1, 366), default=90, show_default=True)
@click.option(
    "--scope", "scopes", multiple=True, type=click.Choice(["read", "manage"]), default=("read",)
)
@as_option
@with_appcontext
def tokens_create(
    email: str, name: str, expires_days: int, scopes: tuple[str, ...], as_email: str | None
) -> None:
    """Create an API token; prints only the token, once."""
    user = get_user(db.session, email)
    new = create_token(
        db.session,
        user,
        name=name,
        expires_days=expires_days,
        scopes=scopes,
        actor=actor(as_email) if as_email else None,
    )
    click.echo(new.raw)


@tokens.command("list")
@click.argument("email")
@json_option
@with_appcontext
def tokens_list(email: str, as_json: bool) -> None:
    """List a user's tokens (never the tokens themselves): id, name, prefix, scopes,
    expiry, last use, status."""
    user = get_user(db.session, email)
    now = utcnow()
    rows = []
    for t in list_tokens(db.session, user):
        status = "active"
        if t.revoked_at is not None:
            status = "revoked"
        elif t.expires_at is not None and t.expires_at <= now:
            status = "expired"
        rows.append(
            {
                "id": t.id,
                "name": t.name,
                "prefix": t.display_prefix,
                "scopes": t.scopes.split(),
                "expires_at": t.expires_at,
                "last_used_at": t.last_used_at,
                "status": status,
            }
        )
    columns = ("id", "name", "prefix", "scopes", "expires_at", "last_used_at", "status")
    emit(rows, columns, as_json=as_json, empty=f"{user.email} has no tokens.")


@tokens.command("revoke")
@click.argument("email")
@click.argument("token_id", type=int)
@as_option
@with_appcontext
def tokens_revoke(email: str, token_id: int, as_email: str | None) -> None:
    """Revoke one of a user's tokens (its id from `tokens list`); it stops at once."""
    user = get_user(db.session, email)
    revoke_token(db.session, user, token_id, actor(as_email))
    click.echo(f"revoked token {token_id} of {user.email}")
