"""`distserver grants ...`, `applications ...`, `orgs ...`, `webhooks ...`, `access report`."""

from __future__ import annotations

import json
from datetime import timedelta

import click
from flask.cli import with_appcontext

from distserver.access import applications as apps
from distserver.access import notifications, organizations, reports, webhooks
from distserver.access.services import add_grant, require_tier, revoke_grants
from distserver.accounts.services import get_user
from distserver.cli_arguments import actor, as_option, model_arg, runtime
from distserver.cli_lists import emit, json_option
from distserver.db import utcnow
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


@grants.command("extend")
@click.argument("grant_id", type=int)
@click.option("--days", type=click.IntRange(1, 3650), required=True)
@as_option
@with_appcontext
def grants_extend(grant_id: int, days: int, as_email: str | None) -> None:
    """Push a live grant's expiry DAYS further (ids: `distserver grants list`)."""
    from distserver.access.grant_admin import extend_grant

    grant = extend_grant(db.session, grant_id, days, actor(as_email))
    until = grant.expires_at.date().isoformat() if grant.expires_at else "no expiry"
    click.echo(f"grant {grant.id} now runs until {until}")


def _scope(model_ref: str | None, all_models: bool):  # type: ignore[no-untyped-def]
    if all_models == bool(model_ref):
        raise click.UsageError("Give either NS/NAME or --all-models.")
    return None if all_models else model_arg(model_ref or "")


@grants.command("remind")
@click.option("--days", type=click.IntRange(1, 365), default=14, show_default=True)
@with_appcontext
def grants_remind(days: int) -> None:
    """Mail holders of grants expiring within DAYS (once per grant)."""
    n = notifications.remind_expiring(db.session, days)
    click.echo(f"reminded {n} grant holder(s)")


@click.group()
def applications() -> None:
    """Review early-access applications."""


@applications.command("list")
@click.option("--status", default="pending", show_default=True)
@click.option("--tier", default=None)
@click.option("--model", "model_ref", metavar="NS/NAME", default=None)
@json_option
@as_option
@with_appcontext
def applications_list(
    status: str, tier: str | None, model_ref: str | None, as_json: bool, as_email: str | None
) -> None:
    """List applications (tab-separated, or --json)."""
    model = model_arg(model_ref) if model_ref else None
    who = actor(as_email)
    rows = [
        reports.application_dict(db.session, a)
        for a in apps.queue(db.session, who, status=status or None, tier=tier, model=model)
    ]
    columns = ("id", "status", "user", "model", "tier", "created_at", "reason")
    empty = f"No applications with status {status}." if status else "No applications."
    emit(rows, columns, as_json=as_json, empty=empty)


def _decide_command(decision: str):  # type: ignore[no-untyped-def]
    @click.argument("ids", nargs=-1, type=int, required=True)
    @click.option("--reason", default=None, help="Required for a rejection.")
    @as_option
    @with_appcontext
    def command(ids: tuple[int, ...], reason: str | None, as_email: str | None) -> None:
        rows = apps.decide(
            db.session, runtime().tiers, list(ids), decision, reason, actor(as_email)
        )
        for a in rows:
            click.echo(f"application {a.id}: {a.status}")

    command.__doc__ = f"{decision.capitalize()} pending applications (all or none)."
    return command


applications.command("approve")(_decide_command("approve"))
applications.command("reject")(_decide_command("reject"))


@applications.command("digest")
@with_appcontext
def applications_digest() -> None:
    """Mail each reviewer one summary of the pending applications."""
    click.echo(f"sent {notifications.send_digest(db.session)} digest(s)")


@click.group()
def orgs() -> None:
    """Partner organisations."""


@orgs.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--tier", default="vetted_partner", show_default=True)
@as_option
@with_appcontext
def orgs_create(slug: str, name: str, tier: str, as_email: str | None) -> None:
    """Create an organisation holding TIER."""
    organizations.create_org(
        db.session, slug, name, require_tier(runtime().tiers, tier), actor(as_email)
    )
    click.echo(f"created organisation {slug}")


@orgs.command("add-member")
@click.argument("slug")
@click.argument("email")
@click.option("--role", type=click.Choice(organizations.MEMBER_ROLES), default="member")
@as_option
@with_appcontext
def orgs_add_member(slug: str, email: str, role: str, as_email: str | None) -> None:
    """Add a member (or a manager) to an organisation."""
    org = organizations.get_org(db.session, slug)
    organizations.add_member(db.session, org, get_user(db.session, email), actor(as_email), role)
    click.echo(f"added {email} to {slug} as {role}")


@orgs.command("remove-member")
@click.argument("slug")
@click.argument("email")
@as_option
@with_appcontext
def orgs_remove_member(slug: str, email: str, as_email: str | None) -> None:
    """Remove a member; they lose the tier on their next request."""
    org = organizations.get_org(db.session, slug)
    organizations.remove_member(db.session, org, get_user(db.session, email), actor(as_email))
    click.echo(f"removed {email} from {slug}")


@orgs.command("set-role")
@click.argument("slug")
@click.argument("email")
@click.argument("role", type=click.Choice(organizations.MEMBER_ROLES))
@as_option
@with_appcontext
def orgs_set_role(slug: str, email: str, role: str, as_email: str | None) -> None:
    """Make a member a manager, or a manager a plain member (admins)."""
    org = organizations.get_org(db.session, slug)
    user = get_user(db.session, email)
    organizations.change_member_role(db.session, org, user, role, actor(as_email))
    click.echo(f"{email} is a {role} of {slug}")


@orgs.command("sign-agreement")
@click.argument("slug")
@click.option("--signed-by", required=True, help="Who signed for the organisation.")
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None)
@as_option
@with_appcontext
def orgs_sign(slug: str, signed_by: str, expires_days: int | None, as_email: str | None) -> None:
    """Record that the organisation signed the current version of its tier's agreement."""
    org = organizations.get_org(db.session, slug)
    expires = utcnow() + timedelta(days=expires_days) if expires_days else None
    signed = organizations.sign_agreement(
        db.session,
        org,
        require_tier(runtime().tiers, org.tier),
        signed_by=signed_by,
        actor=actor(as_email),
        expires_at=expires,
    )
    click.echo(f"recorded {signed.agreement} version {signed.version} for {slug}")


@click.group("webhooks")
def webhooks_group() -> None:
    """Webhooks for application and stage events."""


@webhooks_group.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    required=True,
    help="An event tag, '*', or a prefix pattern such as 'alert.*'.",
)
@as_option
@with_appcontext
def webhooks_add(url: str, events: tuple[str, ...], as_email: str | None) -> None:
    """Add a webhook; prints its signing secret once."""
    hook, secret = webhooks.create_webhook(db.session, url, list(events), actor(as_email))
    click.echo(f"webhook {hook.id}")
    click.echo(f"secret {secret}")


@webhooks_group.command("list")
@json_option
@with_appcontext
def webhooks_list(as_json: bool) -> None:
    """List webhooks and their deliveries' status."""
    hooks = webhooks.list_webhooks(db.session)
    if as_json or not hooks:
        rows = [
            {"id": h.id, "url": h.url, "events": h.events.split(), "active": h.active}
            for h in hooks
        ]
        emit(
            rows,
            (),
            as_json=as_json,
            empty="No webhooks yet: `distserver webhooks add URL --event '*'`.",
        )
        return
    for hook in hooks:
        click.echo(f"{hook.id}\t{hook.url}\t{hook.events}\t{'active' if hook.active else 'off'}")
        for d in webhooks.deliveries(db.session, hook.id, limit=20):
            when = d.next_attempt_at.isoformat() if d.next_attempt_at else ""
            click.echo(f"  {d.id}\t{d.event}\t{d.status}\t{d.attempts}\t{d.last_status}\t{when}")


@webhooks_group.command("rotate-secret")
@click.argument("webhook_id", type=click.IntRange(1))
@as_option
@with_appcontext
def webhooks_rotate_secret(webhook_id: int, as_email: str | None) -> None:
    """Give a webhook a new signing secret; prints it once."""
    hook, secret = webhooks.rotate_secret(db.session, webhook_id, actor(as_email))
    click.echo(f"webhook {hook.id}")
    click.echo(f"secret {secret}")


@webhooks_group.command("redeliver")
@click.argument("webhook_id", type=click.IntRange(1))
@click.argument("delivery_id", type=click.IntRange(1))
@as_option
@with_appcontext
def webhooks_redeliver(webhook_id: int, delivery_id: int, as_email: str | None) -> None:
    """Send a past delivery's event again, as a new delivery."""
    copy = webhooks.redeliver(db.session, webhook_id, delivery_id, actor(as_email))
    click.echo(f"delivery {copy.id} queued (again of {delivery_id})")


@webhooks_group.command("deliver")
@with_appcontext
def webhooks_deliver() -> None:
    """Attempt every delivery that is due (run on a schedule)."""
    click.echo(f"delivered {webhooks.deliver_due(db.session)}")


@click.group()
def access() -> None:
    """Access reports."""


@access.command("report")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@as_option
@with_appcontext
def access_report(fmt: str, as_email: str | None) -> None:
    """Every application: user, e-mail, tier, model, status, decided by, decided at."""
    rows = reports.access_report(db.session, actor(as_email))
    click.echo(reports.report_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2), nl=False)


# The list commands of these groups live in their own module.
from distserver.access import list_commands  # noqa: E402,F401
