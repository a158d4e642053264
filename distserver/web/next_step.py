"""The one next step a model page shows a visitor (download, sign in, accept, apply,
wait, ...), read from the reason code of their standing (downloads.standing): nothing
here decides access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.access.models import Application
from distserver.access.policy import AccessFacts, Decision, ModelFacts
from distserver.access.tiers import Tier
from distserver.app_runtime import Runtime
from distserver.catalog.models import Model
from distserver.identity import Principal


@dataclass(frozen=True)
class Step:
    """The one next step that would give access (or why none would now)."""

    kind: str  # download, sign_in, accept, apply, wait_review, wait_stage, halted,
    # renew, tomorrow, suspended, no_files, ask_org
    text: str
    tier: Tier | None = None


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
