"""`distserver db check`: the models equal the migrations, on SQLite and PostgreSQL; a
difference is one line on stderr and exit status 1."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import text

from distserver.cli import main
from distserver.extensions import db
from distserver.schema_check import schema_differences


def test_the_models_equal_the_migrations(app: Flask) -> None:
    assert schema_differences(db.engine, db.metadata) == []
    result = app.test_cli_runner().invoke(main, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "The models equal the migrations." in result.output


def test_a_difference_is_one_line_and_exit_1(app: Flask) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_grants_user_tier"))
        connection.execute(text("ALTER TABLE grants ADD COLUMN stray INTEGER"))
    result = app.test_cli_runner().invoke(main, ["db", "check"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert sorted(lines) == [
        "models differ from the migrations: add_index grants.ix_grants_user_tier",
        "models differ from the migrations: remove_column grants.stray",
    ]
