"""`distserver grants list` and `distserver orgs list` (the list commands of the
access groups; registered on the groups of access/commands.py)."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from distserver.access.commands import grants, orgs
from distserver.access.models import Grant, Membership, Organization
from distserver.accounts.models import User
from distserver.accounts.services import get_user
from distserver.catalog.models import Model
from distserver.cli_arguments import model_arg
from distserver.cli_lists import emit, json_option
from distserver.db import utcnow
from distserver.extensions import db


@grants.command("list")
@click.option("--user", "email", metavar="EMAIL", default=None, help="Only this user's.")
@click.option("--model", "model_ref", metavar="NS/NAME", default=None, help="Only this model's.")
@click.option("--all", "everything", is_flag=True, help="Include expired and revoked grants.")
@json_option
@with_appcontext
def grants_list(email: str | None, model_ref: str | None, everything: bool, as_json: bool) -> None:
    """List grants: id, user, tier, model (* for every model), expiry, status."""
    now = utcnow()
    query = (
        select(Grant, User.email, Model.namespace, Model.name)
        .join(User, User.id == Grant.user_id)
        .outerjoin(Model, Model.id == Grant.model_id)
        .order_by(User.email, Grant.tier, Grant.id)
    )
    if email:
        query = query.where(Grant.user_id == get_user(db.session, email).id)
    if model_ref:
        query = query.where(Grant.model_id == model_arg(model_ref).id)
    rows: list[dict[str, Any]] = []
    for grant, user_email, namespace, name in db.session.execute(query):
        status = "active"
        if grant.revoked_at is not None:
            status = "revoked"
        elif grant.expires_at is not None and grant.expires_at <= now:
            status = "expired"
        if status != "active" and not everything:
            continue
        rows.append(
            {
                "id": grant.id,
                "user": user_email,
                "tier": grant.tier,
                "model": f"{namespace}/{name}" if namespace else "*",
                "source": grant.source,
                "expires_at": grant.expires_at,
                "status": status,
            }
        )
    columns = ("id", "user", "tier", "model", "source", "expires_at", "status")
    empty = "No grants match." if everything else "No active grants match (--all shows every one)."
    emit(rows, columns, as_json=as_json, empty=empty)


@orgs.command("list")
@json_option
@with_appcontext
def orgs_list(as_json: bool) -> None:
    """List organisations: slug, name, tier, members."""
    count = (
        select(func.count(Membership.id))
        .where(Membership.organization_id == Organization.id)
        .scalar_subquery()
    )
    query = select(Organization, count).order_by(Organization.slug)
    rows = [
        {"slug": org.slug, "name": org.name, "tier": org.tier, "members": members}
        for org, members in db.session.execute(query)
    ]
    emit(rows, ("slug", "name", "tier", "members"), as_json=as_json, empty="No organisations yet.")
