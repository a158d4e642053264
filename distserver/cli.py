"""The `distserver` command. Exit status: 0 on success, 1 when the action was
refused (one line on stderr), 2 on bad usage (Click's own)."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import FlaskGroup

from distserver.errors import ConfigError, DistserverError


class DistserverGroup(FlaskGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DistserverError, ConfigError) as exc:
            click.echo(f"error: {getattr(exc, 'message', None) or exc}", err=True)
            sys.exit(1)


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
