"""`distserver users ...` and `distserver tokens ...`."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from distserver.accounts.models import STAFF_ROLES
from distserver.accounts.services import create_token, create_user, get_user
from distserver.cli_support import actor, as_option
from distserver.errors import BadRequest
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
    user = create_user(db.session, email, roles=roles, password=password, actor=actor(as_email))
    click.echo(f"created {user.email}" + (f" ({', '.join(sorted(roles))})" if roles else ""))


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
