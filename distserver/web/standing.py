"""A principal's standing on models, for the pages, within the page query budget.

Nothing here decides access: every answer comes from `access.policy.decide`, fed
with the same facts `downloads.standing.model_access` gathers
(`releases.services.model_facts` and `access.services.gather_facts`). What differs
is only how the facts are fetched: a listing gathers them once for every model
(one query per kind of fact, not one per model), and a model page reuses the
revision and files it has already loaded. The one next step a page shows is read
from the decision's reason code."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.access.models import Application, Grant
from distserver.access.policy import AccessFacts, Decision, GrantFacts, ModelFacts, decide, may_see
from distserver.access.services import gather_facts, today
from distserver.access.tiers import Tier
from distserver.app_runtime import Runtime
from distserver.catalog.models import File, Model, Revision
from distserver.downloads.services import quota_used
from distserver.identity import Principal
from distserver.releases.models import ReleaseState
from distserver.releases.services import model_facts

# Any path: a listing asks about the model as a whole (a revision with files).
ANY_FILE = "*"


@dataclass(frozen=True)
class Standing:
    model: Model
    facts: ModelFacts
    state: ReleaseState
    revision: Revision | None
    decision: Decision


@dataclass(frozen=True)
class Step:
    """The one next step that would give access (or why none would now)."""

    kind: str  # download, sign_in, accept, apply, wait_review, wait_stage, halted,
    # renew, tomorrow, suspended, no_files, ask_org
    text: str
    tier: Tier | None = None


def catalog(session: Session, rt: Runtime, principal: Principal, now: datetime) -> list[Standing]:
    """Every model the principal may see, with its standing: a fixed number of
    queries whatever the number of models."""
    latest = (
        select(func.max(Revision.id))
        .where(Revision.model_id == Model.id)
        .correlate(Model)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Model, ReleaseState, Revision)
        .join(ReleaseState, ReleaseState.model_id == Model.id)
        .outerjoin(Revision, Revision.id == latest)
        .order_by(Model.namespace, Model.name)
    ).all()
    visible = []
    for model, state, revision in rows:
        facts = model_facts(session, model, rt.plans, now)  # reads the state row loaded
        if may_see(principal, facts):
            visible.append((model, facts, state, revision))
    if not visible:
        return []
    ids = [v[0].id for v in visible]
    used = quota_used(session, principal.quota_subject, today(now))
    base = gather_facts(session, principal, None, used_today=used, tiers=rt.tiers)
    per_model = _model_grants(session, principal, ids)
    out = []
    for model, facts, state, revision in visible:
        access = replace(base, grants=base.grants + tuple(per_model.get(model.id, ())))
        decision = _decide(rt, principal, facts, revision, ANY_FILE, access, now)
        out.append(Standing(model, facts, state, revision, decision))
    return out


def _model_grants(
    session: Session, principal: Principal, ids: list[int]
) -> dict[int, list[GrantFacts]]:
    """The principal's unrevoked per-model grants on `ids` (tier-wide ones come from
    gather_facts), expired included, as access.services.live_grants reads them."""
    out: dict[int, list[GrantFacts]] = defaultdict(list)
    if principal.user_id is None:
        return out
    query = select(Grant).where(
        Grant.user_id == principal.user_id, Grant.revoked_at.is_(None), Grant.model_id.in_(ids)
    )
    for grant in session.scalars(query):
        out[grant.model_id or 0].append(GrantFacts(grant.tier, grant.expires_at))
    return out


def _decide(
    rt: Runtime,
    principal: Principal,
    facts: ModelFacts,
    revision: Revision | None,
    path: str | None,
    access: AccessFacts,
    now: datetime,
) -> Decision:
    return decide(
        principal,
        facts,
        revision.commit if revision else None,
        path,
        now,
        tiers=rt.tiers,
        facts=access,
        file_exists=path is not None,
    )


def load_model(session: Session, namespace: str, name: str) -> tuple[Model, ReleaseState] | None:
    """The model with its release state, in one query. Keep the state referenced:
    the identity map holds rows weakly, and model_facts reads it with session.get."""
    row = session.execute(
        select(Model, ReleaseState)
        .join(ReleaseState, ReleaseState.model_id == Model.id)
        .where(Model.namespace == namespace, Model.name == name)
    ).first()
    return (row[0], row[1]) if row else None


def page_standing(
    session: Session,
    rt: Runtime,
    principal: Principal,
    model: Model,
    revision: Revision | None,
    files: Iterable[File],
    now: datetime,
) -> tuple[ModelFacts, AccessFacts, Decision]:
    """The principal's standing on `revision` of `model` as a whole (the policy asked
    for its first file, as downloads.standing.model_access does for `main`)."""
    facts = model_facts(session, model, rt.plans, now)
    used = quota_used(session, principal.quota_subject, today(now))
    access = gather_facts(session, principal, model, used_today=used, tiers=rt.tiers)
    first = next(iter(files), None)
    decision = _decide(rt, principal, facts, revision, first.path if first else None, access, now)
    return facts, access, decision


def pending_application(session: Session, principal: Principal, model: Model) -> Application | None:
    if principal.user_id is None:
        return None
    return session.scalar(
        select(Application)
        .where(
            Application.user_id == principal.user_id,
            Application.model_id == model.id,
            Application.status == "pending",
        )
        .limit(1)
    )


def admitted(rt: Runtime, facts: ModelFacts) -> list[Tier]:
    """The tiers the model's stage admits now, highest priority first."""
    tiers = [rt.tiers[t] for t in facts.admitted_tiers if t in rt.tiers]
    return sorted(tiers, key=lambda t: -t.priority)


def agreement_tier(
    rt: Runtime, facts: ModelFacts, access: AccessFacts, now: datetime
) -> Tier | None:
    """The tier whose agreement stands between the principal and access (for an
    agreement_required decision): the first admitted tier the principal holds, or
    that is open, with an agreement not yet accepted in its current version."""
    held = {g.tier for g in access.grants if g.expires_at is None or g.expires_at > now}
    for tier in admitted(rt, facts):
        if tier.qualification != "open" and tier.name not in held:
            continue
        if any(a.sha256 not in access.accepted for a in tier.agreements_for(facts.ref)):
            return tier
    return None


def next_step(
    rt: Runtime,
    decision: Decision,
    facts: ModelFacts,
    *,
    access: AccessFacts | None = None,
    pending: Application | None = None,
    halt_reason: str | None = None,
    now: datetime,
) -> Step:
    """The one step, read from the decision's reason code."""
    reason = decision.reason
    if decision.allowed:
        return Step("download", "You may download these files.")
    if reason == "login_required":
        return Step("sign_in", "Sign in to download this model.")
    if reason == "agreement_required":
        tier = agreement_tier(rt, facts, access, now) if access else None
        return Step("accept", decision.message, tier)
    if reason == "no_grant":
        if pending is not None:
            return Step(
                "wait_review",
                f"Your {pending.tier} application is waiting for a reviewer's decision.",
            )
        for tier in admitted(rt, facts):
            if tier.qualification == "application":
                return Step("apply", decision.message, tier)
        return Step("ask_org", decision.message + " Ask your organisation's manager.")
    if reason == "stage_closed":
        return Step("wait_stage", decision.message)
    if reason == "halted":
        why = f" Reason: {halt_reason.rstrip('.')}." if halt_reason else ""
        return Step(
            "halted",
            f"Distribution of {facts.ref} is halted: no new download links are issued until "
            f"staff lift the halt.{why}",
        )
    if reason == "grant_expired":
        return Step("renew", decision.message)
    if reason == "quota_exceeded":
        return Step("tomorrow", decision.message + " Come back tomorrow (UTC).")
    if reason == "suspended":
        return Step("suspended", decision.message)
    return Step("no_files", "No files are published for this revision.")
