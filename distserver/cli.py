"""The `distserver` command. Exit status: 0 on success, 1 when the action was
refused (one line on stderr), 2 on bad usage (Click's own)."""

from __future__ import annotations

import importlib
import sys
from typing import Any, NoReturn

import click
from flask.cli import AppGroup, FlaskGroup, ScriptInfo
from sqlalchemy.exc import SQLAlchemyError

from distserver.errors import ConfigError, DistserverError

# Each command group, by name, and where it is defined. They are imported only when
# asked for (or listed by --help): one command then does not pay for the imports of
# all the others (numpy and ml_dtypes for fingerprints take most of a second).
LAZY_COMMANDS: dict[str, str] = {
    "db": "distserver.schema_check:db",
    "users": "distserver.accounts.commands:users",
    "tokens": "distserver.accounts.commands:tokens",
    "models": "distserver.catalog.commands:models",
    "grants": "distserver.access.commands:grants",
    "releases": "distserver.releases.commands:releases",
    "demo": "distserver.demo:demo",
    "trace": "distserver.fingerprint.commands:trace",
    "fingerprints": "distserver.fingerprint.commands:fingerprints",
    "applications": "distserver.access.commands:applications",
    "orgs": "distserver.access.commands:orgs",
    "webhooks": "distserver.access.commands:webhooks_group",
    "access": "distserver.access.commands:access",
    "audit": "distserver.audit.commands:audit",
    "jobs": "distserver.jobs.commands:jobs_group",
    "alerts": "distserver.alerts.commands:alerts",
}


class DistserverGroup(FlaskGroup):
    """Flask's group, minus what needs settings before a command runs: every command is
    registered on this group (none on app.cli), so listing and finding them never builds
    the app, and `distserver --help` works with no settings at all. Command groups are
    imported only when asked for (LAZY_COMMANDS)."""

    def _load_lazy(self, name: str) -> None:
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attr = LAZY_COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for name in LAZY_COMMANDS:
            self._load_lazy(name)
        return sorted(AppGroup.list_commands(self, ctx))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load_lazy(name)
        return AppGroup.get_command(self, ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DistserverError, ConfigError) as exc:
            _fail(getattr(exc, "message", None) or str(exc))
        except SQLAlchemyError:
            problem = _database_problem(ctx)
            # While `db ...` runs, a database that is reachable but behind is expected:
            # the error is the migration's own, so it is shown as is.
            if problem is None or (
                ctx.invoked_subcommand == "db" and problem.code != "database_unavailable"
            ):
                raise
            _fail(problem.for_operator())


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _database_problem(ctx: click.Context) -> Any:
    from distserver.database_state import database_problem
    from distserver.extensions import db

    app = ctx.ensure_object(ScriptInfo).load_app()  # already built for the failed command
    with app.app_context():
        return database_problem(db.engine)


def _create_app() -> Any:
    from distserver import create_app

    return create_app()


@click.group(
    cls=DistserverGroup,
    create_app=_create_app,
    add_default_commands=False,
    add_version_option=False,
    load_dotenv=False,
    set_debug_flag=False,
)
def main() -> None:
    """distserver: staged-access model distribution server."""


if __name__ == "__main__":
    main()
