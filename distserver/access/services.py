"""Grants and agreement acceptances, and gathering what a principal holds for the
policy. Each public function that writes owns its transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from distserver.access.models import AgreementAcceptance, Grant
from distserver.access.policy import AccessFacts, GrantFacts
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.errors import BadRequest, NotFound
from distserver.identity import Principal


def require_tier(tiers: Mapping[str, Tier], name: str) -> Tier:
    if name not in tiers:
        raise BadRequest(
            f"No tier {name!r}; tiers are {', '.join(sorted(tiers))}.", code="unknown_tier"
        )
    return tiers[name]


def live_grants(session: Session, user_id: int, model_ids: Collection[int]) -> list[Grant]:
    """Unrevoked grants of the user for these models or for all models (expired included,
    so the policy can tell 'expired' from 'never had one')."""
    scope: ColumnElement[bool] = Grant.model_id.is_(None)
    if model_ids:
        scope = or_(scope, Grant.model_id.in_(model_ids))
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
    grant = new_grant(session, user, tier, model, days=days, actor=actor, source=source)
    session.commit()
    return grant


def new_grant(
    session: Session,
    user: User,
    tier: Tier,
    model: Model | None,
    *,
    days: int | None,
    actor: Principal,
    source: str = "admin",
    start: datetime | None = None,
) -> Grant:
    """Add a grant and its audit event to the caller's transaction (no commit).
    `days` None means the tier's grant_days; `start` (default now) is when the
    duration starts counting, so a renewal can extend a live grant."""
    if days is not None and days < 1:
        raise BadRequest("A grant lasts at least one day.", code="invalid_days")
    days = days if days is not None else tier.grant_days
    start = max(start or utcnow(), utcnow())
    grant = Grant(
        user_id=user.id,
        tier=tier.name,
        model_id=model.id if model else None,
        source=source,
        granted_by_id=actor.user_id,
        expires_at=start + timedelta(days=days) if days else None,
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
    if tier.fingerprint:  # the recipient's marked copies are prepared ahead
        from distserver.fingerprint.planning import plan_after_commit

        plan_after_commit(session, user_id=user.id)
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


def revoke_grant(session: Session, grant_id: int, actor: Principal) -> Grant:
    """Revoke one grant by id (reviewers and admins); effective on the next request."""
    from distserver.access import webhooks
    from distserver.identity import require_role

    require_role(actor, frozenset({"reviewer", "admin"}), "revoke grants", allow_system=True)
    grant = session.get(Grant, grant_id)
    if grant is None or grant.revoked_at is not None:
        raise NotFound(f"No live grant {grant_id}.", code="grant_not_found")
    grant.revoked_at = utcnow()
    user = session.get(User, grant.user_id)
    model = session.get(Model, grant.model_id) if grant.model_id else None
    assert user is not None
    ref = model.ref if model else None
    data = {"grant_id": grant.id, "user": user.email}
    record(session, EventTag.GRANT_REVOKED, actor, model=ref, tier=grant.tier, data=data)
    webhooks.emit(session, EventTag.GRANT_REVOKED, {**data, "tier": grant.tier, "model": ref})
    session.commit()
    return grant


def accept_agreement(
    session: Session,
    user: User,
    tier: Tier,
    actor: Principal,
    *,
    model_ref: str | None = None,
    commit: bool = True,
) -> None:
    """Record the user's acceptance of the current version of every agreement of
    `tier` (with `model_ref`: the model's own agreement too)."""
    agreements = (
        tier.agreements_for(model_ref)
        if model_ref
        else ((tier.agreement,) if tier.agreement else ())
    )
    if not agreements:
        raise BadRequest(f"The {tier.name} tier has no agreement to accept.", code="no_agreement")
    held = set(
        session.scalars(
            select(AgreementAcceptance.sha256).where(AgreementAcceptance.user_id == user.id)
        )
    )
    for a in agreements:
        if a.sha256 in held:
            continue
        session.add(
            AgreementAcceptance(
                user_id=user.id, agreement=a.name, version=a.version, sha256=a.sha256
            )
        )
        record(
            session,
            EventTag.AGREEMENT_ACCEPTED,
            actor,
            model=model_ref,
            tier=tier.name,
            data={"agreement": a.name, "version": a.version, "agreement_sha256": a.sha256},
        )
    if tier.fingerprint:  # accepting may complete the standing that marked copies need
        from distserver.fingerprint.planning import plan_after_commit

        plan_after_commit(session, user_id=user.id)
    if commit:
        session.commit()


@dataclass(frozen=True)
class Holdings:
    """What a principal holds, gathered once for a batch of models: the facts every model
    shares (tier-wide and organisation grants, agreements accepted, today's quota use)
    and each model's own grants, by model id."""

    shared: AccessFacts
    own_grants: Mapping[int, tuple[GrantFacts, ...]]

    def on(self, model_id: int | None) -> AccessFacts:
        """The policy's AccessFacts for one model of the batch (None: no model)."""
        own = self.own_grants.get(model_id, ()) if model_id is not None else ()
        return replace(self.shared, grants=self.shared.grants + own) if own else self.shared


def gather_holdings(
    session: Session,
    principal: Principal,
    model_ids: Collection[int],
    *,
    used_today: Mapping[str, int],
    tiers: Mapping[str, Tier] | None = None,
) -> Holdings:
    """Everything the policy needs to know about what `principal` holds, for every model
    of `model_ids` in the same few queries whatever their number: live grant rows, plus
    the tier of each organisation the user belongs to whose signed agreement is current
    (see organizations.membership_grants), and the sha256 of every agreement version
    accepted. The caller passes today's quota use per tier (downloads.services.quota_used:
    the counters are the downloads' own). `tiers` defaults to the app's tiers."""
    used = dict(used_today)
    if principal.anonymous:
        return Holdings(AccessFacts(used_today=used), {})
    assert principal.user_id is not None
    if tiers is None:
        from distserver.app_runtime import current_runtime

        tiers = current_runtime().tiers
    from distserver.access.organizations import membership_grants

    shared: list[GrantFacts] = []
    own: dict[int, list[GrantFacts]] = defaultdict(list)
    for grant in live_grants(session, principal.user_id, model_ids):
        held = GrantFacts(grant.tier, grant.expires_at)
        (shared if grant.model_id is None else own[grant.model_id]).append(held)
    shared += membership_grants(session, principal.user_id, tiers)
    accepted = frozenset(
        session.scalars(
            select(AgreementAcceptance.sha256).where(
                AgreementAcceptance.user_id == principal.user_id
            )
        )
    )
    return Holdings(
        AccessFacts(grants=tuple(shared), accepted=accepted, used_today=used),
        {model_id: tuple(grants) for model_id, grants in own.items()},
    )


def gather_facts(
    session: Session,
    principal: Principal,
    model: Model | None,
    *,
    used_today: Mapping[str, int],
    tiers: Mapping[str, Tier] | None = None,
) -> AccessFacts:
    """gather_holdings for one model (None: the tier-wide facts only)."""
    ids = (model.id,) if model is not None else ()
    holdings = gather_holdings(session, principal, ids, used_today=used_today, tiers=tiers)
    return holdings.on(model.id if model is not None else None)


def today(now: datetime) -> str:
    return now.date().isoformat()
