"""`distserver alerts list|ack|dismiss|evaluate|read-s3-log|fetches`."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import IO, Any

import click
from flask.cli import AppGroup, with_appcontext

from distserver.alerts import service
from distserver.cli_arguments import actor, as_option
from distserver.cli_lists import emit, json_option
from distserver.db import utcnow
from distserver.extensions import db

alerts = AppGroup("alerts", help="Alerts on misuse: list, acknowledge, dismiss, evaluate.")


@alerts.command("list")
@click.option("--state", type=click.Choice(["open", "acknowledged", "dismissed"]), default=None)
@click.option("--rule", default=None, help="Only this rule's alerts.")
@click.option("--principal", default=None, help="Only about this principal (user:<id>, ...).")
@click.option("--limit", default=100, show_default=True, type=int)
@json_option
@with_appcontext
def list_command(
    state: str | None, rule: str | None, principal: str | None, limit: int, as_json: bool
) -> None:
    """List alerts, newest first: id, raised, rule, principal, state, summary."""
    found = service.list_alerts(
        db.session, service.AlertFilter(state, rule, principal, limit=limit)
    )
    rows = [service.payload(a) for a in found]
    columns = ["id", "raised_at", "rule", "principal", "state", "summary"]
    emit(rows, columns, as_json=as_json, empty="no alerts")


def _decide(alert_id: int, state: str, note: str, as_email: str | None) -> None:
    alert = service.decide_alert(db.session, alert_id, state, note, actor(as_email))
    click.echo(f"alert {alert.id} {alert.state}")


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--note", required=True, help="What was found and done (required).")
@as_option
@with_appcontext
def ack_command(alert_id: int, note: str, as_email: str | None) -> None:
    """Acknowledge an open alert with a note; releases its brake."""
    _decide(alert_id, "acknowledged", note, as_email)


@alerts.command("dismiss")
@click.argument("alert_id", type=int)
@click.option("--note", default="", help="Why it is not misuse.")
@as_option
@with_appcontext
def dismiss_command(alert_id: int, note: str, as_email: str | None) -> None:
    """Dismiss an open alert (a false alarm); releases its brake."""
    _decide(alert_id, "dismissed", note, as_email)


@alerts.command("evaluate")
@with_appcontext
def evaluate_command() -> None:
    """Run the rules over newly sealed events now (the `alerts.evaluate` job's work)."""
    from distserver.alerts.evaluate import evaluate

    click.echo(evaluate(db.session, service.current_rules()).message)


@alerts.command("read-s3-log")
@click.argument("files", nargs=-1, type=click.File("r", encoding="utf-8"))
@with_appcontext
def read_s3_log_command(files: tuple[IO[str], ...]) -> None:
    """Record the object fetches of S3 server access log files ('-' or none: stdin)."""
    from distserver.alerts.fetches import read_s3_log

    added = 0
    for fh in files or (sys.stdin,):
        added += read_s3_log(db.session, fh)
    click.echo(f"recorded {added} new fetches")


@alerts.command("fetches")
@click.option("--days", default=1, show_default=True, type=int, help="Links of the last N days.")
@json_option
@with_appcontext
def fetches_command(days: int, as_json: bool) -> None:
    """What was really fetched: each recent link (fetches, bytes, addresses; 0 fetches:
    never fetched), then the fetches that match no link."""
    from distserver.alerts.fetches import fetch_report

    uses, unmatched = fetch_report(db.session, utcnow() - timedelta(days=days))
    rows = [
        {**u.__dict__, "addresses": ",".join(u.addresses), "kind": "link"} for u in uses
    ] + [
        {"kind": "unmatched", "link_id": f.link_id or "-", "path": f.key, "fetches": 1,
         "bytes_sent": f.bytes_sent, "addresses": f.address or ""}
        for f in unmatched
    ]  # fmt: skip
    columns = ["kind", "link_id", "path", "fetches", "bytes_sent", "addresses"]
    emit(rows, columns, as_json=as_json, empty="no links or fetches")


@alerts.command("verify-evidence", with_appcontext=False)
@click.option("--export", "export_file", required=True, type=click.File("rb"))
@click.option("--public-key", "public_key_file", required=True, type=click.Path(dir_okay=False))
@click.option("--alert", "alert_file", required=True, type=click.File("r", encoding="utf-8"))
def verify_evidence_command(export_file: Any, public_key_file: str, alert_file: Any) -> None:
    """Offline: check an alert's evidence (its JSON, as `alerts list --json` or the API
    give it) against a JSONL audit export with the public key alone."""
    from distserver.alerts.evidence import check_evidence
    from distserver.audit.keys import read_public_key
    from distserver.errors import DistserverError

    alert = json.load(alert_file)
    alert = alert[0] if isinstance(alert, list) else alert
    result = check_evidence(
        export_file.read().splitlines(), read_public_key(public_key_file), alert["evidence"]
    )
    if not result.ok:
        raise DistserverError(f"alert {alert.get('id')}: {result.message}")
    click.echo(f"alert {alert.get('id')}: {result.message}")
    for event in result.events:
        click.echo(f"{event['seq']}\t{event['occurred_at']}\t{event['tag']}\t{event['actor']}")
