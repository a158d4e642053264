"""`distserver releases ...`: status, gate evidence, transitions and the cron tick."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from distserver.cli_arguments import actor, as_option, model_arg, runtime
from distserver.extensions import db
from distserver.releases import services
from distserver.releases.gates import gate_status


@click.group()
def releases() -> None:
    """Stages, gates, halts."""


@releases.command("status")
@click.argument("model_ref", metavar="NS/NAME")
@with_appcontext
def releases_status(model_ref: str) -> None:
    """Current stage, tiers admitted, and each requirement of the next gate."""
    model = model_arg(model_ref)
    services.model_facts(db.session, model, runtime().plans)  # opens a due stage first
    status = gate_status(db.session, model, runtime().plans)
    click.echo(f"{model.ref}: stage {status.stage}" + (" (HALTED)" if status.halted else ""))
    click.echo(f"tiers admitted: {', '.join(status.admitted_tiers) or 'none (staff only)'}")
    if status.next_stage is None:
        click.echo("next stage: none (final stage)")
        return
    verdict = "met" if status.met else "not met"
    click.echo(f"next stage: {status.next_stage} (gate {verdict}; revision {status.revision})")
    for req in status.requirements:
        click.echo(f"  [{'met' if req.met else 'unmet'}] {req.text}")


@releases.command("evaluate")
@click.argument("model_ref", metavar="NS/NAME")
@click.option("--name", required=True, help="The evaluation's name, as the gate lists it.")
@click.option("--result", required=True, type=click.Choice(["pass", "fail"]))
@click.option("--report", required=True, help="Where the report lives (a reference).")
@as_option
@with_appcontext
def releases_evaluate(
    model_ref: str, name: str, result: str, report: str, as_email: str | None
) -> None:
    """Record an evaluation result for the next gate."""
    model = model_arg(model_ref)
    e = services.evaluate(db.session, model, runtime().plans, name, result, report, actor(as_email))
    click.echo(f"recorded {name}={result} for {model.ref} -> {e.stage}")


@releases.command("signoff")
@click.argument("model_ref", metavar="NS/NAME")
@click.option("--note", default="")
@as_option
@with_appcontext
def releases_signoff(model_ref: str, note: str, as_email: str | None) -> None:
    """Sign off the next gate."""
    model = model_arg(model_ref)
    s = services.signoff(db.session, model, runtime().plans, actor(as_email), note)
    click.echo(f"signed off {model.ref} -> {s.stage}")


@releases.command("promote")
@click.argument("model_ref", metavar="NS/NAME")
@click.option("--note", default="")
@as_option
@with_appcontext
def releases_promote(model_ref: str, note: str, as_email: str | None) -> None:
    """Move to the next stage; refused (exit 1) listing every unmet requirement."""
    model = model_arg(model_ref)
    status = services.promote(db.session, model, runtime().plans, actor(as_email), note)
    click.echo(f"promoted {model.ref}: {status.stage} -> {status.next_stage}")


@releases.command("demote")
@click.argument("model_ref", metavar="NS/NAME")
@click.option("--note", default="")
@as_option
@with_appcontext
def releases_demote(model_ref: str, note: str, as_email: str | None) -> None:
    """Step back one stage."""
    model = model_arg(model_ref)
    stage = services.demote(db.session, model, runtime().plans, actor(as_email), note)
    click.echo(f"demoted {model.ref} to {stage}")


@releases.command("tick")
@with_appcontext
def releases_tick() -> None:
    """Apply every scheduled promotion that is due (run from cron)."""
    for line in services.tick(db.session, runtime().plans):
        click.echo(f"opened {line}")


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
