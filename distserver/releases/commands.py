"""`distserver releases ...`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from distserver.cli_support import actor, as_option, model_arg, runtime
from distserver.extensions import db
from distserver.releases import services


@click.group()
def releases() -> None:
    """Stages, gates, halts."""


@releases.command("status")
@click.argument("model_ref", metavar="NS/NAME")
@with_appcontext
def releases_status(model_ref: str) -> None:
    """Current stage and tiers admitted."""
    model = model_arg(model_ref)
    facts = services.model_facts(db.session, model, runtime().plans)
    click.echo(f"{model.ref}: stage {facts.stage}" + (" (HALTED)" if facts.halted else ""))
    click.echo(f"tiers admitted: {', '.join(facts.admitted_tiers) or 'none (staff only)'}")


@releases.command("halt")
@click.argument("model_ref", metavar="NS/NAME")
@click.option("--reason", required=True)
@as_option
@with_appcontext
def releases_halt(model_ref: str, reason: str, as_email: str | None) -> None:
    """Emergency stop: no new links, outstanding /dl/ links refused at once."""
    model = model_arg(model_ref)
    services.halt(db.session, model, reason, actor(as_email))
    click.echo(f"halted {model.ref}")


@releases.command("resume")
@click.argument("model_ref", metavar="NS/NAME")
@click.option("--note", default="")
@as_option
@with_appcontext
def releases_resume(model_ref: str, note: str, as_email: str | None) -> None:
    """Lift a halt."""
    model = model_arg(model_ref)
    services.resume(db.session, model, actor(as_email), note)
    click.echo(f"resumed {model.ref}")
