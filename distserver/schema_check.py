"""`distserver db check`: the models equal the migrations. Alembic's autogenerate compares
the models' metadata with a database built by the migrations (the configured one, which
must be at this version's head); every difference it finds is one line on stderr and
the command exits 1. The rest of the `db` group is Flask-Migrate's commands, on an app
the group attaches Flask-Migrate to first (distserver.extensions.init_migrations)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate.cli import db as migrate_group
from sqlalchemy import Engine, MetaData

# Tables the models do not declare on purpose: Alembic's own bookkeeping.
UNMODELLED_TABLES = frozenset({"alembic_version"})


def _name(obj: Any) -> str:
    table = getattr(obj, "table", None)
    name = getattr(obj, "name", None)
    if table is not None and name is not None:
        return f"{table.name}.{name}"
    return str(name if name is not None else obj)


def describe(diff: Any) -> str:
    """One line for one entry of Alembic's diff list."""
    if isinstance(diff, list):  # a column's changes come as a list of modify_* tuples
        return "; ".join(describe(part) for part in diff)
    op, *args = diff
    if op.startswith("modify_"):
        _, table, column, _, old, new = args
        return f"{op} {table}.{column}: the migrations give {old!r}, the models {new!r}"
    if op in {"add_column", "remove_column"}:
        _, table, column = args
        return f"{op} {table}.{column.name}"
    return f"{op} {_name(args[0])}"


def _include(obj: Any, name: str | None, kind: str, reflected: bool, _: Any) -> bool:
    return not (kind == "table" and name in UNMODELLED_TABLES)


def schema_differences(engine: Engine, metadata: MetaData) -> list[str]:
    """What Alembic would write in a new migration to make the database match the models,
    one line per difference (empty when they agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": _include},
        )
        diffs: Iterable[Any] = compare_metadata(context, metadata)
        return [describe(diff) for diff in diffs]


@click.group("db", help=migrate_group.help)
@click.pass_context
def db(ctx: click.Context, /, **options: Any) -> None:
    from distserver.extensions import init_migrations

    ctx.invoke(migrate_group.callback, **options)  # Flask-Migrate's: app context, -d, -x
    init_migrations(current_app)  # before any subcommand: only this group migrates


db.params.extend(migrate_group.params)
for name, command in migrate_group.commands.items():
    db.add_command(command, name)


@db.command("check")
@with_appcontext
def check() -> None:
    """Check that the models equal the migrations (exit 1, one line per difference)."""
    from distserver.database_state import database_problem
    from distserver.extensions import db

    problem = database_problem(db.engine)
    if problem is not None:
        click.echo(f"error: {problem.for_operator()}", err=True)
        sys.exit(1)
    differences = schema_differences(db.engine, db.metadata)
    for line in differences:
        click.echo(f"models differ from the migrations: {line}", err=True)
    if differences:
        sys.exit(1)
    click.echo("The models equal the migrations.")
