"""`distserver audit ...`: seal, verify, export, public-key."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import ScriptInfo

from distserver.audit.chain_verifier import verify_export
from distserver.audit.database_verify import verify_database
from distserver.audit.keys import read_public_key, signing_key
from distserver.audit.queries import EventFilter, export_csv, export_jsonl
from distserver.audit.sealing import DEFAULT_BATCH, seal_pending
from distserver.errors import BadRequest, DistserverError
from distserver.extensions import db


def _app_context() -> None:
    """Push the app for this command. Not a decorator: `verify --export --public-key`
    must work for an outsider with no settings and no database."""
    if current_app:
        return
    ctx = click.get_current_context()
    app = ctx.ensure_object(ScriptInfo).load_app()
    ctx.with_resource(app.app_context())


@click.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("seal")
@click.option("--batch", default=DEFAULT_BATCH, show_default=True, help="Events per checkpoint.")
def seal_command(batch: int) -> None:
    """Seal pending audit events into the hash chain and write signed checkpoints."""
    _app_context()
    report = seal_pending(db.session, signing_key(current_app.config), batch=batch)
    click.echo(report.message)


@audit.command("verify")
@click.option(
    "--public-key",
    "public_key_file",
    type=click.Path(dir_okay=False),
    help="Verify with this public key (PEM) instead of the server's own.",
)
@click.option(
    "--export",
    "export_file",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Verify this JSONL export instead of the database ('-' for stdin).",
)
@click.option(
    "--deep",
    is_flag=True,
    help="Re-encode every event from its columns in Python instead of hashing the stored "
    "canonical bytes (the fast check falls back to this by itself when anything differs).",
)
def verify_command(public_key_file: str | None, export_file: str | None, deep: bool) -> None:
    """Check the whole chain and every checkpoint; exit 1 naming the first bad event."""
    if public_key_file:
        key = read_public_key(public_key_file)
    else:
        _app_context()
        key = signing_key(current_app.config).public_key()
    if export_file:
        if export_file == "-":
            result = verify_export(sys.stdin.buffer, key)
        else:
            path = Path(export_file)
            if not path.is_file():
                raise BadRequest(f"{export_file}: no such export file")
            with path.open("rb") as fh:
                result = verify_export(fh, key)
    else:
        _app_context()
        result = verify_database(db.session, key, deep=deep)
    if not result.ok:
        raise DistserverError(f"audit log verification failed: {result.message}")
    click.echo(result.message)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"--since {value!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--since", help="Only events at or after this ISO 8601 time (UTC if no offset).")
@click.option("--model", metavar="NS/NAME", help="Only events about this model.")
@click.option("--user", metavar="EMAIL", help="Only events by this user.")
def export_command(fmt: str, since: str | None, model: str | None, user: str | None) -> None:
    """Stream sealed events to stdout. An unfiltered JSONL export verifies offline."""
    _app_context()
    where = EventFilter(model=model, user=user, since=_since(since))
    if fmt == "jsonl":
        chunks = export_jsonl(db.session, where, with_checkpoints=where.empty)
    else:
        chunks = export_csv(db.session, where)
    out = sys.stdout
    for chunk in chunks:
        out.write(chunk)
    out.flush()
    db.session.rollback()


@audit.command("public-key")
def public_key_command() -> None:
    """Print the public key (PEM) that verifies checkpoints and receipts."""
    _app_context()
    from distserver.audit.checkpoints import public_key_pem

    click.echo(public_key_pem(signing_key(current_app.config)).decode("ascii"), nl=False)
