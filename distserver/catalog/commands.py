"""`distserver models ...`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from distserver.catalog.names import split_ref
from distserver.catalog.publish import PublishProgress, publish
from distserver.catalog.services import create_model, list_models, main_revision
from distserver.catalog.tags import check_tag, find_tag, model_tags, tag_revision
from distserver.cli_arguments import actor, as_option, instance_path, model_arg, runtime
from distserver.cli_lists import emit, json_option
from distserver.errors import BadRequest, Conflict
from distserver.extensions import db
from distserver.releases.services import model_facts


@click.group()
def models() -> None:
    """Register and publish models."""


@models.command("create")
@click.argument("model_ref", metavar="NS/NAME")
@click.option("--plan", default="default", show_default=True)
@click.option("--title", default="")
@as_option
@with_appcontext
def models_create(model_ref: str, plan: str, title: str, as_email: str | None) -> None:
    """Register a model at its plan's first stage."""
    plans = runtime().plans
    if plan not in plans:
        raise BadRequest(f"No plan {plan!r}; plans are {', '.join(sorted(plans))}.")
    namespace, name = split_ref(model_ref)
    model = create_model(
        db.session, namespace, name, plan=plans[plan], title=title, actor=actor(as_email)
    )
    click.echo(f"created {model.ref} at stage {plans[plan].stages[0].name}")


@models.command("publish")
@click.argument("model_ref", metavar="NS/NAME")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--message", default="")
@click.option("--tag", default=None, help="Name the new revision (for example v1.0).")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True)
@as_option
@with_appcontext
def models_publish(
    model_ref: str,
    directory: Path,
    message: str,
    tag: str | None,
    workers: int,
    as_email: str | None,
) -> None:
    """Upload DIRECTORY as a new revision; prints its commit id."""
    model = model_arg(model_ref)
    if tag is not None:
        check_tag(tag)  # before any upload
        if find_tag(db.session, model, tag) is not None:
            raise Conflict(f"{model.ref} already has a tag {tag!r}; tags are never moved.")
    console = Console(stderr=True)  # stdout carries only the commit id
    columns = ("{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(
        *columns,
        console=console,
        disable=not console.is_terminal,
        transient=True,
        redirect_stdout=False,
    ) as bar:
        task = bar.add_task(f"publishing {model.ref}", total=None)
        hooks = PublishProgress(
            on_start=lambda files, total: bar.update(task, total=total),
            on_bytes=lambda n: bar.advance(task, n),
        )
        revision = publish(
            db.session,
            runtime().storage,
            model,
            directory,
            actor=actor(as_email),
            journal_path=instance_path("publish-journal.json"),
            message=message,
            progress=hooks,
            workers=workers,
        )
    if tag is not None:
        tag_revision(db.session, model, revision, tag, actor(as_email))
    click.echo(revision.commit)


@models.command("list")
@json_option
@with_appcontext
def models_list(as_json: bool) -> None:
    """List models: id, title, plan, stage, halted, newest commit, tags."""
    plans = runtime().plans
    rows = []
    for model in list_models(db.session):
        facts = model_facts(db.session, model, plans)
        revision = main_revision(db.session, model)
        rows.append(
            {
                "id": model.ref,
                "title": model.title,
                "plan": model.plan,
                "stage": facts.stage if facts else None,
                "halted": bool(facts and facts.halted),
                "revision": revision.commit if revision else None,
                "tags": [name for name, _ in model_tags(db.session, model)],
            }
        )
    columns = ("id", "title", "plan", "stage", "halted", "revision", "tags")
    emit(rows, columns, as_json=as_json, empty="No models yet: `distserver models create NS/NAME`.")
