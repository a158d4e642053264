"""Grants and agreement acceptances, and gathering what a principal holds for the
policy. Each public function that writes owns its transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from distserver.access.models import AgreementAcceptance, Grant
from distserver.access.policy import AccessFacts, GrantFacts, Principal
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.downloads.models import QuotaCounter
from distserver.errors import BadRequest, NotFound


def require_tier(tiers: Mapping[str, Tier], name: str) -> Tier:
    if name not in tiers:
        raise BadRequest(
            f"No tier {name!r}; tiers are {', '.join(sorted(tiers))}.", code="unknown_tier"
        )
    return tiers[name]


def live_grants(session: Session, user_id: int, model: Model | None) -> list[Grant]:
    """Unrevoked grants of the user for this model or for all models (expired included,
    so the policy can tell 'expired' from 'never had one')."""
    scope = Grant.model_id.is_(None)
    if model is not None:
        scope = or_(scope, Grant.model_id == model.id)
    query = select(Grant).where(Grant.user_id == user_id, Grant.revoked_at.is_(None), scope)
    return list(session.scalars(query))


def add_grant(
    session: Session,
    user: User,
    tier: Tier,
    model: Model | None,
    *,
    days: int | None,
    actor: Principal,
    source: str = "admin",
) -> Grant:
    if days is not None and days < 1:
        raise BadRequest("A grant lasts at least one day.", code="invalid_days")
    days = days if days is not None else tier.grant_days
    grant = Grant(
        user_id=user.id,
        tier=tier.name,
        model_id=model.id if model else None,
        source=source,
        granted_by_id=actor.user_id,
        expires_at=utcnow() + timedelta(days=days) if days else None,
    )
    session.add(grant)
    session.flush()
    record(
        session,
        EventTag.GRANT_ADDED,
        actor,
        model=model.ref if model else None,
        tier=tier.name,
        data={"grant_id": grant.id, "user": user.email, "days": days, "source": source},
    )
    session.commit()
    return grant


def revoke_grants(
    session: Session, user: User, tier: Tier, model: Model | None, *, actor: Principal
) -> int:
    """Revoke the user's live grants of `tier` on `model` (None: the tier-wide ones).
    Takes effect on the next request."""
    scope = Grant.model_id.is_(None) if model is None else Grant.model_id == model.id
    grants = list(
        session.scalars(
            select(Grant).where(
                Grant.user_id == user.id, Grant.tier == tier.name, Grant.revoked_at.is_(None), scope
            )
        )
    )
    if not grants:
        where = model.ref if model else "all models"
        raise NotFound(
            f"{user.email} holds no {tier.name} grant on {where}.", code="grant_not_found"
        )
    now = utcnow()
    for grant in grants:
        grant.revoked_at = now
        record(
            session,
            EventTag.GRANT_REVOKED,
            actor,
            model=model.ref if model else None,
            tier=tier.name,
            data={"grant_id": grant.id, "user": user.email},
        )
    session.commit()
    return len(grants)


def accept_agreement(session: Session, user: User, tier: Tier, actor: Principal) -> None:
    if tier.agreement is None:
        raise BadRequest(f"The {tier.name} tier has no agreement to accept.", code="no_agreement")
    a = tier.agreement
    session.add(
        AgreementAcceptance(user_id=user.id, agreement=a.name, version=a.version, sha256=a.sha256)
    )
    record(
        session,
        EventTag.AGREEMENT_ACCEPTED,
        actor,
        tier=tier.name,
        data={"agreement": a.name, "version": a.version, "agreement_sha256": a.sha256},
    )
    session.commit()


def gather_facts(
    session: Session, principal: Principal, model: Model | None, day: str
) -> AccessFacts:
    """Everything the policy needs to know about what `principal` holds."""
    used = {
        c.tier: c.used
        for c in session.scalars(
            select(QuotaCounter).where(
                QuotaCounter.subject == principal.quota_subject, QuotaCounter.day == day
            )
        )
    }
    if principal.anonymous:
        return AccessFacts(used_today=used)
    assert principal.user_id is not None
    grants = tuple(
        GrantFacts(g.tier, g.expires_at) for g in live_grants(session, principal.user_id, model)
    )
    accepted = frozenset(
        session.scalars(
            select(AgreementAcceptance.sha256).where(
                AgreementAcceptance.user_id == principal.user_id
            )
        )
    )
    return AccessFacts(grants=grants, accepted=accepted, used_today=used)


def today(now: datetime) -> str:
    return now.date().isoformat()
