"""Applications for a tier on a model: submitted by a signed-in user with the form's
answers and the current agreement(s), then approved (a grant with the tier's
duration), rejected with a reason the applicant sees, or withdrawn.

Rules: only tiers with qualification "application" take applications; one pending
application per user, model and tier; after a rejection the applicant waits the
tier's cooldown_days; a tier with approval = "auto" approves at once. Each write
owns its transaction, is audited, queues webhooks, and sends its e-mail only
after the commit. Objects a caller may not see are answered as not found."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.access import notifications, webhooks
from distserver.access.forms import validate_answers
from distserver.access.models import Application, Grant
from distserver.access.services import accept_agreement, new_grant, require_tier
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict, Forbidden, NotFound
from distserver.identity import Principal, require_role

REVIEWERS = frozenset({"reviewer", "admin"})
STATUSES = ("pending", "approved", "rejected", "withdrawn")
MAX_REASON = 2000
MAX_BULK = 200


def submit(
    session: Session,
    tiers: Mapping[str, Tier],
    user: User,
    model: Model,
    tier_name: str,
    answers: Any,
    *,
    actor: Principal,
    agreement_sha256: str | None,
    model_agreement_sha256: str | None = None,
    plan_tiers: frozenset[str] | None = None,
    renewal_of: Grant | None = None,
    now: datetime | None = None,
) -> Application:
    """Apply for `tier_name` on `model`. `plan_tiers` (the tiers of the model's plan)
    refuses tiers the model never opens to. Raises BadRequest for bad answers or a
    tier that takes no applications, Conflict for a stale agreement, a pending
    application or a cooldown that has not passed."""
    now = now or utcnow()
    tier = require_tier(tiers, tier_name)
    if tier.qualification != "application" or (
        plan_tiers is not None and tier.name not in plan_tiers
    ):
        raise BadRequest(
            f"{model.ref} takes no applications for the {tier.name} tier.", code="not_applicable"
        )
    clean = validate_answers(tier.form_for(model.ref), answers)
    check_agreements(tier, model.ref, agreement_sha256, model_agreement_sha256)
    _check_can_apply(session, tier, user, model, now)

    application = Application(
        user_id=user.id,
        model_id=model.id,
        tier=tier.name,
        status="pending",
        answers=json.dumps(clean, sort_keys=True),
        agreement_sha256=tier.agreement.sha256 if tier.agreement else None,
        agreement_version=tier.agreement.version if tier.agreement else None,
        renewal_of_id=renewal_of.id if renewal_of else None,
        created_at=now,
    )
    session.add(application)
    session.flush()
    if tier.agreements_for(model.ref):
        accept_agreement(session, user, tier, actor, model_ref=model.ref, commit=False)
    record(
        session,
        EventTag.APPLICATION_SUBMITTED,
        actor,
        model=model.ref,
        tier=tier.name,
        data={"application_id": application.id, "renewal_of": application.renewal_of_id},
    )
    webhooks.emit(session, EventTag.APPLICATION_SUBMITTED, _payload(application, user, model))
    if tier.approval == "auto":
        _approve(session, tier, application, user, model, actor, reason=None, auto=True, now=now)
    session.commit()
    if application.status == "approved":
        notifications.decision(user, model.ref, application)
    else:
        notifications.new_application(session, application, user, model.ref)
    return application


def decide(
    session: Session,
    tiers: Mapping[str, Tier],
    ids: list[int],
    decision: str,
    reason: str | None,
    actor: Principal,
    now: datetime | None = None,
) -> list[Application]:
    """Approve or reject pending applications, all or none. A rejection needs a
    reason; nobody decides their own application."""
    require_role(actor, REVIEWERS, "approve applications", second_factor=True)
    if decision not in ("approve", "reject"):
        raise BadRequest("The decision is 'approve' or 'reject'.", code="invalid_decision")
    reason = (reason or "").strip() or None
    if decision == "reject" and not reason:
        raise BadRequest(
            "A rejection needs a reason the applicant will see.", code="reason_required"
        )
    if reason and len(reason) > MAX_REASON:
        raise BadRequest(f"A reason has at most {MAX_REASON} characters.", code="invalid_reason")
    if not ids or len(ids) > MAX_BULK or len(set(ids)) != len(ids):
        raise BadRequest(f"Give 1 to {MAX_BULK} distinct application ids.", code="invalid_ids")
    now = now or utcnow()
    rows = []
    for app_id in ids:
        application = session.get(Application, app_id)
        if application is None:
            raise NotFound(f"No application {app_id}.", code="application_not_found")
        if application.status != "pending":
            raise Conflict(
                f"Application {app_id} is {application.status}, not pending.", code="not_pending"
            )
        if application.user_id == actor.user_id:
            raise Forbidden("Nobody decides their own application.", code="own_application")
        user, model = (
            session.get(User, application.user_id),
            session.get(Model, application.model_id),
        )
        assert user is not None
        assert model is not None
        rows.append((application, user, model))
    for application, user, model in rows:
        if decision == "approve":
            tier = require_tier(tiers, application.tier)
            _approve(session, tier, application, user, model, actor, reason, auto=False, now=now)
        else:
            _reject(session, application, user, model, actor, reason or "", now)
    session.commit()
    for application, user, model in rows:
        notifications.decision(user, model.ref, application)
    return [a for a, _, _ in rows]


def withdraw(session: Session, app_id: int, actor: Principal) -> Application:
    application = session.get(Application, app_id)
    if application is None or application.user_id != actor.user_id:
        raise NotFound(f"No application {app_id}.", code="application_not_found")
    if application.status != "pending":
        raise Conflict(f"The application is {application.status} already.", code="not_pending")
    application.status, application.decided_at = "withdrawn", utcnow()
    model = session.get(Model, application.model_id)
    user = session.get(User, application.user_id)
    assert model is not None
    assert user is not None
    record(
        session,
        EventTag.APPLICATION_WITHDRAWN,
        actor,
        model=model.ref,
        tier=application.tier,
        data={"application_id": application.id},
    )
    webhooks.emit(session, EventTag.APPLICATION_WITHDRAWN, _payload(application, user, model))
    session.commit()
    return application


def renew(
    session: Session,
    tiers: Mapping[str, Tier],
    grant_id: int,
    actor: Principal,
    *,
    answers: Any = None,
    agreement_sha256: str | None = None,
    model_agreement_sha256: str | None = None,
) -> Application:
    """Ask to renew one of the actor's own grants: a new application flagged as a
    renewal (answers default to those of the application that made the grant).
    On approval the new grant runs from the old one's expiry if it is still live."""
    grant = session.get(Grant, grant_id)
    if grant is None or grant.user_id != actor.user_id or grant.revoked_at is not None:
        raise NotFound(f"No grant {grant_id}.", code="grant_not_found")
    if grant.model_id is None:
        raise BadRequest("Tier-wide grants are renewed by an admin.", code="not_applicable")
    if answers is None:
        previous = session.scalar(
            select(Application.answers).where(Application.grant_id == grant.id)
        )
        answers = json.loads(previous) if previous else {}
    user, model = session.get(User, grant.user_id), session.get(Model, grant.model_id)
    assert user is not None
    assert model is not None
    return submit(
        session,
        tiers,
        user,
        model,
        grant.tier,
        answers,
        actor=actor,
        agreement_sha256=agreement_sha256,
        model_agreement_sha256=model_agreement_sha256,
        renewal_of=grant,
    )


def get_application(session: Session, app_id: int, actor: Principal) -> Application:
    """The application, for its applicant or a reviewer/admin; NotFound for anyone else."""
    application = session.get(Application, app_id)
    if (
        application is not None
        and not actor.suspended
        and (application.user_id == actor.user_id or actor.roles & REVIEWERS)
    ):
        return application
    raise NotFound(f"No application {app_id}.", code="application_not_found")


def queue(
    session: Session,
    actor: Principal,
    *,
    status: str | None = "pending",
    tier: str | None = None,
    model: Model | None = None,
    user_id: int | None = None,
    limit: int = 200,
) -> list[Application]:
    """The review queue (reviewers and admins), oldest first, with optional filters."""
    require_role(actor, REVIEWERS, "review applications", allow_system=True)
    if status is not None and status not in STATUSES:
        raise BadRequest(f"Status is one of {', '.join(STATUSES)}.", code="invalid_status")
    query = select(Application).order_by(Application.created_at, Application.id).limit(limit)
    if status:
        query = query.where(Application.status == status)
    if tier:
        query = query.where(Application.tier == tier)
    if model is not None:
        query = query.where(Application.model_id == model.id)
    if user_id is not None:
        query = query.where(Application.user_id == user_id)
    return list(session.scalars(query))


def check_agreements(
    tier: Tier, ref: str, agreement_sha256: str | None, model_agreement_sha256: str | None
) -> None:
    """Conflict unless the sha256s sent are those of the current agreement versions."""
    extra = tier.extras.get(ref)
    pairs = [
        (tier.agreement, agreement_sha256, "agreement_sha256"),
        (extra.agreement if extra else None, model_agreement_sha256, "model_agreement_sha256"),
    ]
    for agreement, sent, field in pairs:
        if agreement is not None and sent != agreement.sha256:
            raise Conflict(
                f"Accept the current {agreement.name} agreement (version {agreement.version}): "
                f"send its sha256 {agreement.sha256} as {field!r}.",
                code="agreement_mismatch",
            )


def _check_can_apply(session: Session, tier: Tier, user: User, model: Model, now: datetime) -> None:
    mine = (
        Application.user_id == user.id,
        Application.model_id == model.id,
        Application.tier == tier.name,
    )
    pending = session.scalar(select(func.count()).where(*mine, Application.status == "pending"))
    if pending:
        raise Conflict(
            f"You have a pending {tier.name} application for {model.ref}; wait for the decision "
            "or withdraw it.",
            code="application_pending",
        )
    last_rejected = session.scalar(
        select(Application.decided_at)
        .where(*mine, Application.status == "rejected")
        .order_by(Application.decided_at.desc())
        .limit(1)
    )
    if last_rejected is not None and tier.cooldown_days:
        opens = last_rejected + timedelta(days=tier.cooldown_days)
        if now < opens:
            raise Conflict(
                f"Your last {tier.name} application for {model.ref} was rejected; you may apply "
                f"again from {opens.date().isoformat()}.",
                code="cooldown",
            )


def _approve(
    session: Session,
    tier: Tier,
    application: Application,
    user: User,
    model: Model,
    actor: Principal,
    reason: str | None,
    *,
    auto: bool,
    now: datetime,
) -> None:
    start = None
    if application.renewal_of_id is not None:
        old = session.get(Grant, application.renewal_of_id)
        if old is not None and old.revoked_at is None and old.expires_at:
            start = old.expires_at
    grant = new_grant(
        session, user, tier, model, days=None, actor=actor, source="application", start=start
    )
    application.status, application.decided_at = "approved", now
    application.decided_by_id = None if auto else actor.user_id
    application.reason, application.grant_id = reason, grant.id
    record(
        session,
        EventTag.APPLICATION_APPROVED,
        actor,
        model=model.ref,
        tier=tier.name,
        data={"application_id": application.id, "grant_id": grant.id, "auto": auto},
    )
    webhooks.emit(session, EventTag.APPLICATION_APPROVED, _payload(application, user, model))


def _reject(
    session: Session,
    application: Application,
    user: User,
    model: Model,
    actor: Principal,
    reason: str,
    now: datetime,
) -> None:
    application.status, application.decided_at = "rejected", now
    application.decided_by_id, application.reason = actor.user_id, reason
    record(
        session,
        EventTag.APPLICATION_REJECTED,
        actor,
        model=model.ref,
        tier=application.tier,
        reason="rejected",
        data={"application_id": application.id, "why": reason},
    )
    webhooks.emit(session, EventTag.APPLICATION_REJECTED, _payload(application, user, model))


def _payload(application: Application, user: User, model: Model) -> dict[str, Any]:
    return {
        "application_id": application.id,
        "status": application.status,
        "tier": application.tier,
        "model": model.ref,
        "user": user.email,
        "renewal": application.renewal_of_id is not None,
    }
