"""The PostgreSQL databases the tests reuse (tests/support/pg_reset.py) come back exactly
as the migrations left them: no row of the last test, sequences from the start, every
trigger still in force; a database whose schema a test changed is dropped, not reused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.support.databases import TemplateDatabases

pytestmark = pytest.mark.postgres

EVENT = {
    "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
    "tag": "account:login:succeeded",
    "actor": "a@example.org",
    "data": "{}",
}


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=NullPool)


def _count(conn: sa.Connection, table: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())


def test_a_reused_database_is_back_to_the_migrated_template(tmp_path: Path) -> None:
    databases = TemplateDatabases(tmp_path)
    try:
        first = databases.fresh("postgres", tmp_path)
        engine = _engine(first)
        with engine.begin() as conn:
            template_version = conn.execute(sa.text("SELECT version FROM access_version")).one()
            events = sa.table("audit_events", *(sa.column(c) for c in EVENT))
            conn.execute(sa.insert(events), [EVENT, EVENT])
            conn.execute(
                sa.text(
                    "INSERT INTO users (email, display_name, created_at, session_version) "
                    "VALUES ('u@x.org', '', now(), 1)"
                )
            )
        engine.dispose()
        databases.drop(first)

        second = databases.fresh("postgres", tmp_path)
        assert second == first, "the reset database should be handed out again"
        engine = _engine(second)
        with engine.begin() as conn:
            assert _count(conn, "audit_events") == 0
            assert _count(conn, "users") == 0
            assert conn.execute(sa.text("SELECT version FROM access_version")).one() == (
                template_version
            )
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            conn.execute(sa.insert(events), [EVENT])
            assert conn.execute(sa.text("SELECT max(id) FROM audit_events")).scalar_one() == 1
        # The append-only trigger is still in force after the reset.
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM audit_events"))
        engine.dispose()
    finally:
        databases.close()


def test_a_database_whose_schema_a_test_changed_is_dropped_not_reused(tmp_path: Path) -> None:
    databases = TemplateDatabases(tmp_path)
    try:
        first = databases.fresh("postgres", tmp_path)
        engine = _engine(first)
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        engine.dispose()
        databases.drop(first)
        assert databases.fresh("postgres", tmp_path) != first
        gone = sa.text("SELECT count(*) FROM pg_database WHERE datname = :n")
        assert databases.pg_engine is not None
        with databases.pg_engine.connect() as conn:
            assert conn.execute(gone, {"n": first.rsplit("/", 1)[1]}).scalar_one() == 0
    finally:
        databases.close()
