"""Where a model stands in its plan and how it moves: gate evidence (evaluations and
sign-offs), promotion through a gate, scheduled opening at an embargo time, demotion,
halt and resume, and the facts the policy needs. Each public function that changes
state owns its transaction and records an audit event with the actor."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.access import webhooks
from distserver.access.policy import ModelFacts
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict
from distserver.identity import SYSTEM, Principal, require_role
from distserver.releases.evidence import (  # the evidence API, re-exported
    TRANSITION_ROLES as TRANSITION_ROLES,
)
from distserver.releases.evidence import TimelineEntry as TimelineEntry
from distserver.releases.evidence import evaluate as evaluate
from distserver.releases.evidence import next_gate as next_gate
from distserver.releases.evidence import signoff as signoff
from distserver.releases.evidence import timeline as timeline
from distserver.releases.evidence import timeline_page as timeline_page
from distserver.releases.gates import GateStatus, gate_status
from distserver.releases.models import ReleaseState, StageTransition
from distserver.releases.plans import Plan, Stage


class GateUnmet(Conflict):
    """A promotion refused; `unmet` lists every requirement not met."""

    code = "gate_unmet"

    def __init__(self, ref: str, stage: str, unmet: list[str]):
        super().__init__(f"Promotion of {ref} to {stage} refused: {'; '.join(unmet)}.")
        self.unmet = unmet


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
    # Held for the session's life: its identity map holds objects weakly, so a request that
    # reads the state twice (the guard's facts, then the page) would load it twice.
    session.info.setdefault("release_states", {})[model.id] = state
    return state


def model_facts(
    session: Session, model: Model, plans: Mapping[str, Plan], now: datetime | None = None
) -> ModelFacts:
    """The facts the policy decides on. A stage whose embargo has passed and whose
    gate is met is opened first, so no request sees a stage late to open."""
    state = release_state(session, model)
    if _embargo_passed(state, plans[model.plan], now or utcnow()):
        open_if_due(session, model, plans, now)
        state = release_state(session, model)
    stage = plans[model.plan].stage(state.stage)
    return ModelFacts(
        ref=model.ref,
        stage=stage.name,
        admitted_tiers=stage.tiers,
        halted=state.halted_at is not None,
    )


def _embargo_passed(state: ReleaseState, plan: Plan, now: datetime) -> bool:
    # The cheap test on every access: only plan data and the row already loaded.
    target = plan.next_stage(state.stage)
    return (
        target is not None
        and target.gate.not_before is not None
        and target.gate.not_before <= now
        and state.halted_at is None
    )


def open_if_due(
    session: Session, model: Model, plans: Mapping[str, Plan], now: datetime | None = None
) -> list[str]:
    """Open every next stage that has an embargo time that has passed and a gate that is
    met (the scheduled promotion). Returns the stages opened; commits if any."""
    now = now or utcnow()
    plan = plans[model.plan]
    opened: list[str] = []
    for _ in plan.stages:
        # Read first without a lock: the common case (gate not met) stays a plain read
        # and never ends the caller's transaction.
        state = release_state(session, model)
        if not _embargo_passed(state, plan, now):
            break
        if not gate_status(session, model, plans, now, state=state).met:
            break
        state = _lock_state(session, model)
        if not _embargo_passed(state, plan, now):
            break
        status = gate_status(session, model, plans, now, state=state)
        if not status.met:
            break
        target = plan.stage(status.next_stage or "")
        _move(session, model, state, "scheduled", target, SYSTEM, "embargo passed", now)
        _announce(
            session,
            EventTag.STAGE_PROMOTED,
            SYSTEM,
            when=now,
            model=model.ref,
            revision=status.revision,
            data={"from": status.stage, "to": target.name, "scheduled": True},
        )
        session.commit()
        opened.append(target.name)
    return opened


def tick(session: Session, plans: Mapping[str, Plan], now: datetime | None = None) -> list[str]:
    """The cron job: apply every scheduled promotion that is due. Returns
    "ns/name -> stage" lines for what opened."""
    now = now or utcnow()
    done: list[str] = []
    models = list(session.scalars(select(Model).order_by(Model.id)))
    for model in models:
        done += [f"{model.ref} -> {s}" for s in open_if_due(session, model, plans, now)]
    return done


def promote(
    session: Session,
    model: Model,
    plans: Mapping[str, Plan],
    actor: Principal,
    note: str = "",
    now: datetime | None = None,
) -> GateStatus:
    """Move to the next stage if its gate is met; otherwise raise GateUnmet listing
    every unmet requirement. Returns the gate status it was promoted on."""
    require_role(actor, TRANSITION_ROLES, "promote models", second_factor=True)
    now = now or utcnow()
    next_gate(session, model, plans)
    state = _lock_state(session, model)
    status = gate_status(session, model, plans, now, state=state)
    if not status.met:
        session.rollback()
        raise GateUnmet(model.ref, status.next_stage or "", status.unmet)
    target = plans[model.plan].stage(status.next_stage or "")
    _move(session, model, state, "promoted", target, actor, note, now)
    _announce(
        session,
        EventTag.STAGE_PROMOTED,
        actor,
        when=now,
        model=model.ref,
        revision=status.revision,
        data={"from": status.stage, "to": target.name, "note": note},
    )
    session.commit()
    return status


def demote(
    session: Session,
    model: Model,
    plans: Mapping[str, Plan],
    actor: Principal,
    note: str = "",
    now: datetime | None = None,
) -> str:
    """Step back one stage (evidence gathered for the gates ahead starts over)."""
    require_role(actor, TRANSITION_ROLES, "demote models", allow_system=True, second_factor=True)
    now = now or utcnow()
    state = _lock_state(session, model)
    previous = plans[model.plan].previous_stage(state.stage)
    if previous is None:
        session.rollback()
        raise Conflict(f"{model.ref} is at its plan's first stage.", code="first_stage")
    from_stage = state.stage
    _move(session, model, state, "demoted", previous, actor, note, now)
    _announce(
        session,
        EventTag.STAGE_DEMOTED,
        actor,
        when=now,
        model=model.ref,
        data={"from": from_stage, "to": previous.name, "note": note},
    )
    session.commit()
    return previous.name


def halt(session: Session, model: Model, reason: str, actor: Principal) -> None:
    """Stop distribution at once: every new link and every outstanding /dl/ link is
    refused from the moment this commits."""
    require_role(actor, TRANSITION_ROLES, "halt models", allow_system=True, second_factor=True)
    reason = reason.strip()
    if not reason:
        raise BadRequest("A halt needs a reason.", code="reason_required")
    state = release_state(session, model)
    if state.halted_at is not None:
        raise Conflict(f"{model.ref} is already halted.", code="already_halted")
    state.halted_at = utcnow()
    state.halt_reason = reason[:500]
    _transition(session, model, "halted", state.stage, state.stage, actor, reason)
    _announce(session, EventTag.STAGE_HALTED, actor, model=model.ref, data={"reason": reason})
    session.commit()


def resume(session: Session, model: Model, actor: Principal, note: str = "") -> None:
    require_role(actor, TRANSITION_ROLES, "resume models", allow_system=True, second_factor=True)
    state = release_state(session, model)
    if state.halted_at is None:
        raise Conflict(f"{model.ref} is not halted.", code="not_halted")
    state.halted_at = None
    state.halt_reason = None
    _transition(session, model, "resumed", state.stage, state.stage, actor, note)
    _announce(session, EventTag.STAGE_RESUMED, actor, model=model.ref, data={"note": note})
    session.commit()


def _announce(
    session: Session,
    tag: EventTag,
    actor: Principal,
    *,
    model: str,
    data: dict[str, Any],
    when: datetime | None = None,
    revision: str | None = None,
) -> None:
    """Record a stage event and queue it for the webhooks subscribed to it, in the
    caller's transaction: both happen, or neither."""
    record(session, tag, actor, when=when, model=model, revision=revision, data=data)
    payload = {"model": model, "actor": actor.label, "revision": revision, **data}
    webhooks.emit(session, tag, payload)


def _lock_state(session: Session, model: Model) -> ReleaseState:
    """The release row, re-read under a row lock (PostgreSQL) so that two concurrent
    transitions cannot both apply."""
    query = (
        select(ReleaseState)
        .where(ReleaseState.model_id == model.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(query).scalar_one()


def _move(
    session: Session,
    model: Model,
    state: ReleaseState,
    kind: str,
    target: Stage,
    actor: Principal,
    note: str,
    now: datetime,
) -> None:
    session.add(
        StageTransition(
            model_id=model.id,
            kind=kind,
            from_stage=state.stage,
            to_stage=target.name,
            actor_id=actor.user_id,
            note=note[:500],
            occurred_at=now,
        )
    )
    state.stage = target.name
    state.stage_entered_at = now
    _plan_copies(session, model)


def _plan_copies(session: Session, model: Model) -> None:
    """A stage change may open a fingerprinted tier: prepare its recipients' copies."""
    from distserver.fingerprint.planning import plan_after_commit

    plan_after_commit(session, model_id=model.id)


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
    _plan_copies(session, model)
    session.commit()
