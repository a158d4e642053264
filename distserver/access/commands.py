"""`distserver grants ...`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from distserver.access.services import add_grant, require_tier, revoke_grants
from distserver.accounts.services import get_user
from distserver.cli_support import actor, as_option, model_arg, runtime
from distserver.extensions import db


@click.group()
def grants() -> None:
    """Grant and revoke tiers."""


@grants.command("add")
@click.argument("email")
@click.argument("model_ref", metavar="NS/NAME", required=False)
@click.option("--tier", required=True)
@click.option(
    "--days", type=click.IntRange(1, 3650), default=None, help="Default: the tier's grant_days."
)
@click.option("--all-models", is_flag=True, help="Grant the tier on every model.")
@as_option
@with_appcontext
def grants_add(
    email: str,
    model_ref: str | None,
    tier: str,
    days: int | None,
    all_models: bool,
    as_email: str | None,
) -> None:
    """Grant a tier on one model (or --all-models)."""
    model = _scope(model_ref, all_models)
    grant = add_grant(
        db.session,
        get_user(db.session, email),
        require_tier(runtime().tiers, tier),
        model,
        days=days,
        actor=actor(as_email),
    )
    until = grant.expires_at.date().isoformat() if grant.expires_at else "no expiry"
    click.echo(f"granted {tier} to {email} on {model.ref if model else 'all models'} ({until})")


@grants.command("revoke")
@click.argument("email")
@click.argument("model_ref", metavar="NS/NAME", required=False)
@click.option("--tier", required=True)
@click.option("--all-models", is_flag=True)
@as_option
@with_appcontext
def grants_revoke(
    email: str, model_ref: str | None, tier: str, all_models: bool, as_email: str | None
) -> None:
    """Revoke a tier; effective on the next request."""
    model = _scope(model_ref, all_models)
    n = revoke_grants(
        db.session,
        get_user(db.session, email),
        require_tier(runtime().tiers, tier),
        model,
        actor=actor(as_email),
    )
    click.echo(f"revoked {n} grant(s)")


def _scope(model_ref: str | None, all_models: bool):  # type: ignore[no-untyped-def]
    if all_models == bool(model_ref):
        raise click.UsageError("Give either NS/NAME or --all-models.")
    return None if all_models else model_arg(model_ref or "")
