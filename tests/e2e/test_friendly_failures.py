"""An operator's first mistakes get one sentence naming the fix, never a traceback:
help with no settings at all, a database nobody migrated, a database nobody can reach."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from distserver import create_app
from distserver.extensions import db, upgrade_database
from tests.support.databases import PG_ADMIN_URL, TEST_SECRET, pg_admin_engine
from tests.support.production import production_env

BIN = Path(sys.executable).parent / "distserver"


def _bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture
def empty_pg() -> Iterator[str]:
    engine = pg_admin_engine()
    name = f"dst_empty_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.mark.parametrize(
    "args", [("--help",), ("db", "--help"), ("users", "create", "--help"), ("audit", "--help")]
)
def test_help_needs_no_settings_at_all(tmp_path: Path, args: tuple[str, ...]) -> None:
    # Production by default, no secret, no database, an empty folder.
    done = subprocess.run(
        [str(BIN), *args], cwd=tmp_path, env=_bare_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: ")
    assert done.stderr == ""


def _cli_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = _bare_env()
    env.update(production_env(tmp_path / "keys"))
    env.update({"DISTSERVER_DATABASE_URL": url, "DISTSERVER_INSTANCE_DIR": str(tmp_path / "i")})
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_unmigrated_database_says_run_db_upgrade(
    tmp_path: Path, empty_pg: str, backend: str
) -> None:
    url = empty_pg if backend == "postgres" else f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    env = _cli_env(tmp_path, url)
    for args in (
        ("users", "create", "a@lab.org"),
        ("audit", "seal"),
        ("releases", "status", "a/b"),
    ):
        line = _one_line_error(_cli(env, *args))
        assert "not been migrated" in line, line
        assert "run `distserver db upgrade`" in line, line
    # The sentence is right: after the upgrade the same command works.
    assert _cli(env, "db", "upgrade").returncode == 0
    assert _cli(env, "users", "create", "a@lab.org").returncode == 0


@pytest.mark.postgres
def test_a_database_behind_this_version_names_both_revisions(tmp_path: Path, empty_pg: str) -> None:
    app = create_app({"ENV": "testing", "DATABASE_URL": empty_pg, "SECRET_KEY": TEST_SECRET,
                      "INSTANCE_DIR": str(tmp_path / "i")})  # fmt: skip
    upgrade_database(app, revision="0003")
    with app.app_context():
        db.engine.dispose()
    line = _one_line_error(_cli(_cli_env(tmp_path, empty_pg), "users", "create", "a@lab.org"))
    assert "revision 0003" in line, line
    assert "run `distserver db upgrade`" in line, line


@pytest.mark.parametrize(
    "args", [("db", "upgrade"), ("users", "create", "a@lab.org"), ("audit", "seal")]
)
def test_an_unreachable_database_says_so_in_one_sentence(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"postgresql+psycopg://distserver:hunter2-secret@127.0.0.1:{_closed_port()}/distserver"
    line = _one_line_error(_cli(_cli_env(tmp_path, url), *args))
    assert "cannot be reached" in line, line
    assert "DISTSERVER_DATABASE_URL" in line, line
    assert "hunter2-secret" not in line


def _app(tmp_path: Path, url: str):  # type: ignore[no-untyped-def]
    return create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": url,
            "SECRET_KEY": TEST_SECRET,
            "INSTANCE_DIR": str(tmp_path / "i"),
        }
    )


@pytest.mark.parametrize("path", ["/api/v1/models", "/api/models/acme/llm"])
def test_the_app_answers_503_json_naming_the_fix_on_an_unmigrated_database(
    tmp_path: Path, path: str
) -> None:
    client = _app(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}").test_client()
    response = client.get(path)
    assert response.status_code == 503, response.data
    error = response.get_json()["error"]
    assert error["code"] == "database_not_migrated"
    assert "distserver db upgrade" in error["message"]


def test_the_app_answers_a_503_page_on_an_unmigrated_database(tmp_path: Path) -> None:
    client = _app(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}").test_client()
    response = client.get("/models")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert b"distserver db upgrade" in response.data
    assert b"Traceback" not in response.data


def test_the_app_answers_503_on_an_unreachable_database_without_its_address(
    tmp_path: Path,
) -> None:
    url = f"postgresql+psycopg://distserver:hunter2-secret@127.0.0.1:{_closed_port()}/distserver"
    client = _app(tmp_path, url).test_client()
    response = client.get("/api/v1/models")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "database_unavailable"
    assert "hunter2" not in response.get_data(as_text=True)
    assert "127.0.0.1" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgres://app:hunter2-secret@db/x", "postgresql+psycopg://"),
        ("not a url", "not a database URL"),
        ("postgresql+psycopg2://app:hunter2-secret@db/x", "psycopg2"),
    ],
)
def test_a_database_url_that_cannot_work_is_named_before_anything_runs(
    tmp_path: Path, url: str, says: str
) -> None:
    line = _one_line_error(_cli(_cli_env(tmp_path, url), "users", "create", "a@lab.org"))
    assert "DISTSERVER_DATABASE_URL" in line, line
    assert says in line, line
    assert "hunter2-secret" not in line
