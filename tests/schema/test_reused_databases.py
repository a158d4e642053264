"""The PostgreSQL databases the tests reuse (tests/support/pg_reset.py) come back exactly
as the migrations left them: no row of the last test, sequences from the start, every
trigger still in force; a database whose schema a test changed is dropped, not reused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


@pytest.fixture
def own_databases(tmp_path: Path) -> Iterator[TemplateDatabases]:
    """A template and its copies of the test's own, apart from the shared ones."""
    databases = TemplateDatabases(tmp_path)
    yield databases
    databases.close()


def _used(databases: TemplateDatabases, directory: Path, *statements: Any) -> str:
    """A copy of the template after `statements` ran on it and the test let it go."""
    url = databases.fresh("postgres", directory)
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(*statement)
    engine.dispose()
    databases.drop(url)
    return url


def _count(conn: sa.Connection, table: str) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())


def test_a_reused_database_is_back_to_the_migrated_template(
    own_databases: TemplateDatabases, tmp_path: Path
) -> None:
    events = sa.table("audit_events", *(sa.column(c) for c in EVENT))
    user = sa.text(
        "INSERT INTO users (email, display_name, created_at, session_version) "
        "VALUES ('u@x.org', '', now(), 1)"
    )
    bump = sa.text("UPDATE access_version SET version = version + 41")
    first = _used(own_databases, tmp_path, (sa.insert(events), [EVENT, EVENT]), (user,), (bump,))

    second = own_databases.fresh("postgres", tmp_path)
    assert second == first, "the reset database should be handed out again"
    engine = sa.create_engine(second, poolclass=NullPool)
    with engine.begin() as conn:
        assert _count(conn, "audit_events") == 0
        assert _count(conn, "users") == 0
        assert conn.execute(sa.text("SELECT version FROM access_version")).scalar_one() == 1
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        conn.execute(sa.insert(events), [EVENT])
        assert conn.execute(sa.text("SELECT max(id) FROM audit_events")).scalar_one() == 1
    # The append-only trigger is still in force after the reset.
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events"))
    engine.dispose()


def test_a_database_whose_schema_a_test_changed_is_dropped_not_reused(
    own_databases: TemplateDatabases, tmp_path: Path
) -> None:
    disable = sa.text("ALTER TABLE audit_events DISABLE TRIGGER USER")
    first = _used(own_databases, tmp_path, (disable,))
    assert own_databases.fresh("postgres", tmp_path) != first
    gone = sa.text("SELECT count(*) FROM pg_database WHERE datname = :n")
    assert own_databases.pg_engine is not None
    with own_databases.pg_engine.connect() as conn:
        assert conn.execute(gone, {"n": first.rsplit("/", 1)[1]}).scalar_one() == 0
