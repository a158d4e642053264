"""Where a model stands in its plan: starting a release, halting and resuming it,
and the facts the policy needs. Each public function owns its transaction."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from distserver.access.policy import ModelFacts, Principal
from distserver.audit.service import SYSTEM, record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict
from distserver.releases.models import ReleaseState, StageTransition
from distserver.releases.plans import Plan


def start_release(session: Session, model: Model, plan: Plan, actor: Principal | None) -> None:
    """Put a new model at its plan's first stage (the caller commits)."""
    first = plan.stages[0].name
    session.add(ReleaseState(model_id=model.id, stage=first))
    session.add(
        StageTransition(
            model_id=model.id,
            kind="created",
            to_stage=first,
            actor_id=actor.user_id if actor else None,
        )
    )


def release_state(session: Session, model: Model) -> ReleaseState:
    state = session.get(ReleaseState, model.id)
    assert state is not None, f"{model.ref} has no release state"
    return state


def model_facts(session: Session, model: Model, plans: Mapping[str, Plan]) -> ModelFacts:
    state = release_state(session, model)
    stage = plans[model.plan].stage(state.stage)
    return ModelFacts(
        ref=model.ref,
        stage=stage.name,
        admitted_tiers=stage.tiers,
        halted=state.halted_at is not None,
    )


def halt(session: Session, model: Model, reason: str, actor: Principal) -> None:
    """Stop distribution at once: every new link and every outstanding /dl/ link is
    refused from the moment this commits."""
    reason = reason.strip()
    if not reason:
        raise BadRequest("A halt needs a reason.", code="reason_required")
    state = release_state(session, model)
    if state.halted_at is not None:
        raise Conflict(f"{model.ref} is already halted.", code="already_halted")
    state.halted_at = utcnow()
    state.halt_reason = reason[:500]
    _transition(session, model, "halted", state.stage, state.stage, actor, reason)
    record(session, EventTag.STAGE_HALTED, actor, model=model.ref, data={"reason": reason})
    session.commit()


def resume(session: Session, model: Model, actor: Principal, note: str = "") -> None:
    state = release_state(session, model)
    if state.halted_at is None:
        raise Conflict(f"{model.ref} is not halted.", code="not_halted")
    state.halted_at = None
    state.halt_reason = None
    _transition(session, model, "resumed", state.stage, state.stage, actor, note)
    record(session, EventTag.STAGE_RESUMED, actor, model=model.ref, data={"note": note})
    session.commit()


def _transition(
    session: Session,
    model: Model,
    kind: str,
    from_stage: str | None,
    to_stage: str,
    actor: Principal,
    note: str = "",
) -> None:
    session.add(
        StageTransition(
            model_id=model.id,
            kind=kind,
            from_stage=from_stage,
            to_stage=to_stage,
            actor_id=actor.user_id,
            note=note[:500],
        )
    )


def seed_stage(session: Session, model: Model, stage: str, plans: Mapping[str, Plan]) -> None:
    """Place a model at a stage without its gate: for seeding demos and test fixtures
    only. No door calls it; the audit log still records the move."""
    plans[model.plan].stage(stage)  # KeyError for a stage the plan lacks
    state = release_state(session, model)
    _transition(session, model, "seeded", state.stage, stage, SYSTEM, "seeded without a gate")
    record(
        session,
        EventTag.STAGE_PROMOTED,
        SYSTEM,
        model=model.ref,
        data={"to": stage, "seeded": True},
    )
    state.stage = stage
    state.stage_entered_at = utcnow()
    session.commit()
