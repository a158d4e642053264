"""How every `distserver ... list` command prints: tab-separated rows for people (one
line saying so when there is nothing to list), or `--json`, one JSON array on
standard output for scripts (`[]` when empty)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON array, for scripts."
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return str(value)


def emit(
    rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool, empty: str
) -> None:
    """Print `rows` (dicts with at least `columns`): JSON, or a tab-separated line per
    row in the order of `columns`, or the sentence `empty` when there are none."""
    if as_json:
        click.echo(json.dumps([{k: _plain(v) for k, v in r.items()} for r in rows], default=str))
        return
    if not rows:
        click.echo(empty)
        return
    for row in rows:
        click.echo("\t".join(_cell(row.get(c)) for c in columns))
