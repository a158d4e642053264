"""The `distserver` command. Exit status: 0 on success, 1 when the action was
refused (one line on stderr), 2 on bad usage (Click's own)."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
from flask.cli import AppGroup, FlaskGroup, ScriptInfo
from sqlalchemy.exc import SQLAlchemyError

from distserver.errors import ConfigError, DistserverError


class DistserverGroup(FlaskGroup):
    """Flask's group, minus what needs settings before a command runs: every command is
    registered on this group (none on app.cli), so listing and finding them never builds
    the app, and `distserver --help` works with no settings at all."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(AppGroup.list_commands(self, ctx))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
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


def _register() -> None:
    from flask_migrate.cli import db as db_group

    from distserver.access.commands import access, applications, grants, orgs, webhooks_group
    from distserver.accounts.commands import tokens, users
    from distserver.catalog.commands import models
    from distserver.demo import demo
    from distserver.fingerprint.commands import fingerprints, trace
    from distserver.jobs.commands import jobs_group
    from distserver.releases.commands import releases

    for command in (db_group, users, tokens, models, grants, releases, demo, trace, fingerprints):
        main.add_command(command)
    for command in (applications, orgs, webhooks_group, access, jobs_group):
        main.add_command(command)
    try:
        from distserver.audit.commands import audit
    except ImportError:  # the sealing commands arrive with the audit package
        return
    main.add_command(audit)


_register()

if __name__ == "__main__":
    main()
