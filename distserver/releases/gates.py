"""Whether a model has cleared the gate of its next stage: each requirement of the
plan's gate, met or unmet, computed from the evidence recorded for it.

Evidence counts for a gate when it was recorded for that target stage, since the
model entered its current stage (a demotion starts the gathering over), and, when
the gate is `per_revision`, for the model's current main revision only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.accounts.models import User
from distserver.catalog.models import Model, Revision
from distserver.db import utcnow
from distserver.releases.models import Evaluation, ReleaseState, Signoff
from distserver.releases.plans import Plan, Stage


@dataclass(frozen=True)
class Requirement:
    """One line of a gate's checklist."""

    key: str  # "halt", "revision", "evaluation:<name>", "signoffs", "min_days", "not_before"
    met: bool
    text: str


@dataclass(frozen=True)
class GateStatus:
    ref: str
    stage: str
    admitted_tiers: tuple[str, ...]
    halted: bool
    next_stage: str | None
    revision: str | None
    requirements: tuple[Requirement, ...] = field(default_factory=tuple)

    @property
    def met(self) -> bool:
        return self.next_stage is not None and all(r.met for r in self.requirements)

    @property
    def unmet(self) -> list[str]:
        return [r.text for r in self.requirements if not r.met]


@dataclass(frozen=True)
class Scope:
    """Where the evidence for one gate lives."""

    model_id: int
    stage: str
    revision: Revision | None
    per_revision: bool
    since: datetime

    def evaluations(self, session: Session) -> list[Evaluation]:
        query = select(Evaluation).where(
            Evaluation.model_id == self.model_id,
            Evaluation.stage == self.stage,
            Evaluation.recorded_at >= self.since,
        )
        if self.per_revision:
            query = query.where(Evaluation.revision_id == self._revision_id)
        return list(session.scalars(query.order_by(Evaluation.recorded_at, Evaluation.id)))

    def signoffs(self, session: Session) -> list[Signoff]:
        query = select(Signoff).where(
            Signoff.model_id == self.model_id,
            Signoff.stage == self.stage,
            Signoff.signed_at >= self.since,
        )
        if self.per_revision:
            query = query.where(Signoff.revision_id == self._revision_id)
        return list(session.scalars(query.order_by(Signoff.signed_at, Signoff.id)))

    @property
    def _revision_id(self) -> int | None:
        return self.revision.id if self.revision else None


def main_revision(session: Session, model: Model) -> Revision | None:
    # The same rule as catalog.services.main_revision (imported there would be circular).
    return session.scalar(
        select(Revision).where(Revision.model_id == model.id).order_by(Revision.id.desc()).limit(1)
    )


def gate_scope(session: Session, model: Model, state: ReleaseState, target: Stage) -> Scope:
    return Scope(
        model_id=model.id,
        stage=target.name,
        revision=main_revision(session, model),
        per_revision=target.gate.per_revision,
        since=state.stage_entered_at,
    )


def barred_signers(session: Session, scope: Scope, evaluations: list[Evaluation]) -> set[int]:
    """Who may not sign off this gate: the publisher of the current revision and
    anyone who recorded an evaluation for it (separation of duties)."""
    return _barred(scope, evaluations)


def _barred(scope: Scope, evaluations: list[Evaluation]) -> set[int]:
    barred = {e.recorded_by_id for e in evaluations}
    if scope.revision is not None and scope.revision.published_by_id is not None:
        barred.add(scope.revision.published_by_id)
    return barred


def gate_status(
    session: Session,
    model: Model,
    plans: Mapping[str, Plan],
    now: datetime | None = None,
    *,
    state: ReleaseState | None = None,
) -> GateStatus:
    """The current stage and every requirement of the next gate, met or unmet."""
    state = state or session.get(ReleaseState, model.id)
    assert state is not None, f"{model.ref} has no release state"
    return gate_statuses(session, [(model, state)], plans, now)[model.id]


def gate_statuses(
    session: Session,
    models: Sequence[tuple[Model, ReleaseState]],
    plans: Mapping[str, Plan],
    now: datetime | None = None,
) -> dict[int, GateStatus]:
    """gate_status for many models at once, in a fixed number of queries (for lists)."""
    now = now or utcnow()
    ids = [m.id for m, _ in models]
    if not ids:
        return {}
    newest = (
        select(func.max(Revision.id)).where(Revision.model_id.in_(ids)).group_by(Revision.model_id)
    )
    revisions = {
        r.model_id: r for r in session.scalars(select(Revision).where(Revision.id.in_(newest)))
    }
    evaluations: dict[int, list[Evaluation]] = {i: [] for i in ids}
    for e in session.scalars(
        select(Evaluation)
        .where(Evaluation.model_id.in_(ids))
        .order_by(Evaluation.recorded_at, Evaluation.id)
    ):
        evaluations[e.model_id].append(e)
    signoffs: dict[int, list[Signoff]] = {i: [] for i in ids}
    for s in session.scalars(
        select(Signoff).where(Signoff.model_id.in_(ids)).order_by(Signoff.signed_at, Signoff.id)
    ):
        signoffs[s.model_id].append(s)
    signer_ids = {s.user_id for rows in signoffs.values() for s in rows}
    users = (
        {u.id: u for u in session.scalars(select(User).where(User.id.in_(signer_ids)))}
        if signer_ids
        else {}
    )
    out: dict[int, GateStatus] = {}
    for model, state in models:
        plan = plans[model.plan]
        target = plan.next_stage(state.stage)
        scope = (
            Scope(
                model.id,
                target.name,
                revisions.get(model.id),
                target.gate.per_revision,
                state.stage_entered_at,
            )
            if target
            else None
        )
        out[model.id] = _status(
            model, plan, state, scope, evaluations[model.id], signoffs[model.id], users, now
        )
    return out


def _in_scope(scope: Scope, rows: list[Any], stage_attr: str, at_attr: str) -> list[Any]:
    return [
        r
        for r in rows
        if getattr(r, stage_attr) == scope.stage
        and getattr(r, at_attr) >= scope.since
        and (not scope.per_revision or r.revision_id == scope._revision_id)
    ]


def _status(
    model: Model,
    plan: Plan,
    state: ReleaseState,
    scope: Scope | None,
    all_evaluations: list[Evaluation],
    all_signoffs: list[Signoff],
    users: Mapping[int, User],
    now: datetime,
) -> GateStatus:
    stage = plan.stage(state.stage)
    halted = state.halted_at is not None
    base = GateStatus(
        ref=model.ref,
        stage=stage.name,
        admitted_tiers=stage.tiers,
        halted=halted,
        next_stage=scope.stage if scope else None,
        revision=scope.revision.commit if scope and scope.revision else None,
    )
    if scope is None:
        return base
    gate = plan.stage(scope.stage).gate
    reqs: list[Requirement] = []
    if halted:
        reqs.append(Requirement("halt", False, f"distribution is halted ({state.halt_reason})"))
    if gate.per_revision and scope.revision is None:
        reqs.append(Requirement("revision", False, "a published revision to evaluate"))
    evaluations = _in_scope(scope, all_evaluations, "stage", "recorded_at")
    latest = {e.name: e for e in evaluations}  # ordered by time: the last one wins
    for name in gate.evaluations:
        e = latest.get(name)
        if e is None:
            reqs.append(Requirement(f"evaluation:{name}", False, f"evaluation {name}: no result"))
        else:
            verdict = "passed" if e.passed else "failed"
            reqs.append(
                Requirement(
                    f"evaluation:{name}", e.passed, f"evaluation {name}: {verdict} ({e.report})"
                )
            )
    if gate.signoffs:
        barred = _barred(scope, evaluations)
        seen: list[int] = []
        for s in _in_scope(scope, all_signoffs, "stage", "signed_at"):
            if s.user_id not in barred and s.user_id not in seen:
                seen.append(s.user_id)
        signers = [users[i] for i in seen if i in users]
        who = f" ({', '.join(u.email for u in signers)})" if signers else ""
        reqs.append(
            Requirement(
                "signoffs",
                len(signers) >= gate.signoffs,
                f"sign-offs from safety staff: {len(signers)} of {gate.signoffs}{who}",
            )
        )
    if gate.min_days:
        reqs.append(_soak_requirement(stage.name, state.stage_entered_at, gate.min_days, now))
    if gate.not_before is not None:
        opens = gate.not_before.isoformat().replace("+00:00", "Z")
        met = now >= gate.not_before
        text = f"embargo until {opens}" + (" (passed)" if met else "")
        reqs.append(Requirement("not_before", met, text))
    return GateStatus(**{**base.__dict__, "requirements": tuple(reqs)})


def _soak_requirement(stage: str, entered: datetime, min_days: float, now: datetime) -> Requirement:
    until = entered + timedelta(days=min_days)
    met = now >= until
    text = f"{min_days:g} days at {stage}: {_time_spent(now - entered)} so far"
    if not met:
        text += f", until {until.isoformat(timespec='seconds').replace('+00:00', 'Z')}"
    return Requirement("min_days", met, text)


def _time_spent(elapsed: timedelta) -> str:
    """Time at a stage for people: hours under a day, then days to a tenth, always
    rounded down (so an unmet soak never reads as complete)."""
    hours = int(elapsed.total_seconds() // 3600)
    if hours < 1:
        return "less than an hour"
    if hours < 24:
        return "1 hour" if hours == 1 else f"{hours} hours"
    tenths = int(elapsed.total_seconds() // 8640)
    return f"{tenths // 10}.{tenths % 10} days"
