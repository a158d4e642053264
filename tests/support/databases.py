"""Test databases built by running the migrations (never from the models' metadata): one migrated
template per backend per test run, and a fresh copy of it for every test. A PostgreSQL copy
a test is done with is reset to the template's state and handed to the next test
(tests/support/pg_reset.py); SQLite copies are files, cheap to make and to throw away."""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tests.support.pg_reset import TemplateState

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Under pytest-xdist each worker makes its own databases, named after it (gw0, gw1, ...).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def migrate(url: str, instance: Path) -> None:
    from distserver import create_app
    from distserver.extensions import db, upgrade_database

    app = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": url,
            "INSTANCE_DIR": str(instance),
            "SECRET_KEY": TEST_SECRET,
        }
    )
    upgrade_database(app)
    with app.app_context():
        db.engine.dispose()


def pg_admin_engine() -> sa.Engine:
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        raise RuntimeError(
            "PostgreSQL is required by the tests and is not answering at 127.0.0.1:5432 "
            f"(trust auth, user postgres): {type(exc).__name__}: {exc}"
        ) from exc
    return engine


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class TemplateDatabases:
    """Makes fresh migrated databases for tests: `fresh(backend, dir) -> url`."""

    root: Path
    sqlite_template: Path | None = None
    pg_template: str | None = None
    pg_engine: sa.Engine | None = None
    pg_state: TemplateState | None = None
    pg_spare: list[str] = field(default_factory=list)  # reset copies, ready for a test
    pg_made: set[str] = field(default_factory=set)

    def fresh(self, backend: str, directory: Path) -> str:
        if backend == "sqlite":
            if self.sqlite_template is None:
                self.sqlite_template = self.root / "template.sqlite3"
                migrate(f"sqlite:///{self.sqlite_template}", self.root / "sqlite-instance")
            target = directory / "test.sqlite3"
            shutil.copyfile(self.sqlite_template, target)
            return f"sqlite:///{target}"
        if backend == "postgres":
            if self.pg_engine is None:
                self.pg_engine = pg_admin_engine()
            if self.pg_template is None:
                name = f"dst_tmpl_{WORKER}_{uuid.uuid4().hex[:10]}"
                with self.pg_engine.connect() as conn:
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                self.pg_template = name
                migrate(_pg_url(name), self.root / "pg-instance")
                self.pg_state = TemplateState.read(_pg_url(name))
            if self.pg_spare:
                return _pg_url(self.pg_spare.pop())
            name = f"dst_t_{WORKER}_{uuid.uuid4().hex[:12]}"
            with self.pg_engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{self.pg_template}"'))
            self.pg_made.add(name)
            return _pg_url(name)
        raise ValueError(backend)

    def drop(self, url: str) -> None:
        """The test is done with this database: reset it for the next one, or drop it."""
        if url.startswith("postgresql") and self.pg_engine is not None:
            name = url.rsplit("/", 1)[1]
            if name in self.pg_made and self.pg_state is not None:
                if self.pg_state.restore(self.pg_engine, name, url):
                    self.pg_spare.append(name)
                    return
                self.pg_made.discard(name)
            with self.pg_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if self.pg_engine is not None:
            with self.pg_engine.connect() as conn:
                for name in self.pg_made:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if self.pg_template:
                with self.pg_engine.connect() as conn:
                    conn.execute(
                        sa.text(f'DROP DATABASE IF EXISTS "{self.pg_template}" WITH (FORCE)')
                    )
            self.pg_engine.dispose()
