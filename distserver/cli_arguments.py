"""Helpers shared by the CLI commands of every domain."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app

from distserver.accounts.services import get_user, principal_for
from distserver.app_runtime import Runtime, current_runtime
from distserver.catalog.models import Model
from distserver.catalog.names import split_ref
from distserver.catalog.services import require_model
from distserver.extensions import db
from distserver.identity import SYSTEM, Principal

as_option = click.option(
    "--as", "as_email", metavar="EMAIL", default=None, help="Whom the action is attributed to."
)


def runtime() -> Runtime:
    return current_runtime()


def actor(as_email: str | None) -> Principal:
    """The person a CLI action is attributed to (the system when --as is not given)."""
    if not as_email:
        return SYSTEM
    return principal_for(get_user(db.session, as_email), "cli", "distserver-cli")


def model_arg(ref: str) -> Model:
    namespace, name = split_ref(ref)
    return require_model(db.session, namespace, name)


def instance_path(*parts: str) -> Any:
    from pathlib import Path

    return Path(current_app.instance_path, *parts)
