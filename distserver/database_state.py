"""Why the database cannot serve this version of the server, as one sentence that names
the fix: it cannot be reached, it was never migrated, or it is at another migration
revision than this version's. Asked only after a database error, by the CLI (which
prints the sentence and exits 1) and by the app's error handler (a 503)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from distserver.paths import MIGRATIONS_DIR

UPGRADE = "run `distserver db upgrade`"


@dataclass(frozen=True)
class DatabaseProblem:
    """`code` is the API error code; `message` is safe to show anyone (it names no host,
    file or account); `detail` adds, for operators, where the database is and why."""

    code: str
    message: str
    detail: str = ""

    def for_operator(self) -> str:
        return f"{self.message} ({self.detail})" if self.detail else self.message


def _where(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return f"{url.get_backend_name()} database {url.database!r} on {url.host}:{url.port or ''}"


def _reason(exc: Exception) -> str:
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines() or [type(cause).__name__]
    return lines[0][:200]


def database_problem(
    engine: Engine, migrations_dir: Path = MIGRATIONS_DIR
) -> DatabaseProblem | None:
    """The problem with `engine`'s database, or None when it is reachable and migrated
    to this version's head (then a database error has another cause)."""
    where = _where(engine)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        return DatabaseProblem(
            "database_unavailable",
            "The database cannot be reached: check DISTSERVER_DATABASE_URL and that the "
            "database server is running.",
            f"{where}: {_reason(exc)}",
        )
    script = ScriptDirectory(str(migrations_dir))
    heads = set(script.get_heads())
    if current == heads:
        return None
    if not current:
        return DatabaseProblem(
            "database_not_migrated",
            f"The database has not been migrated: {UPGRADE}.",
            where,
        )
    known = {rev.revision for rev in script.walk_revisions()}
    at = ", ".join(sorted(current))
    if not current <= known:
        return DatabaseProblem(
            "database_newer",
            f"The database is at revision {at}, which this version of distserver does not "
            "know: run the distserver version that migrated it, or a newer one.",
            where,
        )
    return DatabaseProblem(
        "database_not_migrated",
        f"The database is at revision {at} and this version needs "
        f"{', '.join(sorted(heads))}: {UPGRADE}.",
        where,
    )
