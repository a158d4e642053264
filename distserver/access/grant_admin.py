"""Grants as reviewers manage them from the browser: list a model's grants, add one,
extend one, revoke one. Adding and extending widen access, so they need a reviewer or
admin with a proved second factor, as approving an application does; revoking only
narrows it and needs the role (access.services.revoke_grant, as the API does)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from distserver.access.models import Grant
from distserver.access.services import new_grant, require_tier
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.accounts.services import get_user
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.errors import BadRequest, NotFound
from distserver.identity import Principal, require_role

GRANT_ROLES = frozenset({"reviewer", "admin"})
MAX_DAYS = 3650


@dataclass(frozen=True)
class GrantRow:
    id: int
    user: str
    tier: str
    model: str | None  # None: every model
    source: str
    granted_by: str | None
    created_at: datetime
    expires_at: datetime | None
    status: str  # active, expired or revoked


def grant_status(grant: Grant, now: datetime) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if grant.expires_at is not None and grant.expires_at <= now:
        return "expired"
    return "active"


def model_grants(session: Session, model: Model, *, everything: bool = False) -> list[GrantRow]:
    """Grants on this model and tier-wide grants (which cover it too), active ones
    first; `everything` adds the expired and revoked ones. One query."""
    granter = aliased(User)
    query = (
        select(Grant, User.email, granter.email)
        .join(User, User.id == Grant.user_id)
        .outerjoin(granter, granter.id == Grant.granted_by_id)
        .where(or_(Grant.model_id == model.id, Grant.model_id.is_(None)))
        .order_by(User.email, Grant.tier, Grant.id)
    )
    if not everything:
        query = query.where(
            Grant.revoked_at.is_(None),
            or_(Grant.expires_at.is_(None), Grant.expires_at > utcnow()),
        )
    now = utcnow()
    return [
        GrantRow(
            id=g.id,
            user=email,
            tier=g.tier,
            model=model.ref if g.model_id is not None else None,
            source=g.source,
            granted_by=by,
            created_at=g.created_at,
            expires_at=g.expires_at,
            status=grant_status(g, now),
        )
        for g, email, by in session.execute(query)
    ]


def check_days(days: int | None) -> None:
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise BadRequest(f"Days are between 1 and {MAX_DAYS}.", code="invalid_days")


def grant_on_model(
    session: Session,
    tiers: Mapping[str, Tier],
    model: Model,
    email: str,
    tier_name: str,
    days: int | None,
    actor: Principal,
) -> Grant:
    """Grant `tier_name` on `model` to the user with this e-mail address (`days` None:
    the tier's grant_days). An audit event `access:grant:added`."""
    require_role(actor, GRANT_ROLES, "add grants", second_factor=True)
    tier = require_tier(tiers, tier_name)
    check_days(days)
    user = get_user(session, email.strip())
    grant = new_grant(session, user, tier, model, days=days, actor=actor, source="staff")
    session.commit()
    return grant


def extend_grant(session: Session, grant_id: int, days: int, actor: Principal) -> Grant:
    """Push a live grant's expiry `days` further (from now, if it already lapsed), and
    mark it not yet reminded. An audit event `access:grant:extended`. The operator at
    the server's shell (`distserver grants extend`, no --as) may extend too."""
    require_role(actor, GRANT_ROLES, "extend grants", allow_system=True, second_factor=True)
    if days is None or not 1 <= days <= MAX_DAYS:
        raise BadRequest(f"Extend by 1 to {MAX_DAYS} days.", code="invalid_days")
    grant = session.get(Grant, grant_id)
    if grant is None or grant.revoked_at is not None:
        raise NotFound(f"No live grant {grant_id}.", code="grant_not_found")
    if grant.expires_at is None:
        raise BadRequest(f"Grant {grant_id} never expires; there is nothing to extend.")
    before = grant.expires_at
    grant.expires_at = max(before, utcnow()) + timedelta(days=days)
    grant.reminded_at = None
    user = session.get(User, grant.user_id)
    model = session.get(Model, grant.model_id) if grant.model_id else None
    assert user is not None
    record(
        session,
        EventTag.GRANT_EXTENDED,
        actor,
        model=model.ref if model else None,
        tier=grant.tier,
        data={
            "grant_id": grant.id,
            "user": user.email,
            "days": days,
            "expires_before": before.isoformat(),
            "expires_at": grant.expires_at.isoformat(),
        },
    )
    session.commit()
    return grant
