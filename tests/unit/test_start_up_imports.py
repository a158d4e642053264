"""What a process that builds the app on SQLite does not import (each is a twentieth to
a tenth of a second of every command's, worker's and job process's start-up): Alembic
(only `distserver db ...` and the demo migrate), Authlib (only with OIDC_PROVIDERS),
psycopg and SQLAlchemy's PostgreSQL dialect (only a PostgreSQL engine)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.databases import TEST_SECRET

PROBE = """
import sys, tempfile
from distserver import create_app
with tempfile.TemporaryDirectory() as tmp:
    create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp}/d.db",
                "INSTANCE_DIR": tmp, "SECRET_KEY": sys.argv[1], "STORAGE": "local"})
late = ("alembic", "flask_migrate", "authlib", "psycopg", "sqlalchemy.dialects.postgresql")
print(sorted(name for name in late if name in sys.modules))
"""


def test_building_a_sqlite_app_imports_no_migration_sso_or_postgresql_module() -> None:
    # A fresh interpreter: this one has imported all of them for other tests.
    done = subprocess.run(
        [sys.executable, "-c", PROBE, TEST_SECRET],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
