"""Gate evidence: evaluation results and safety sign-offs recorded for a model's
next gate, with separation of duties; and the model's release timeline. Each
function that records owns its transaction and writes an audit event."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from distserver.audit.models import AuditEvent
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict, Forbidden
from distserver.identity import Principal, require_role
from distserver.paging import Keyset, Page, keyset_page
from distserver.releases.gates import barred_signers, gate_scope
from distserver.releases.models import Evaluation, ReleaseState, Signoff
from distserver.releases.plans import Plan, Stage

EVIDENCE_ROLES = frozenset({"safety"})
TRANSITION_ROLES = frozenset({"safety", "admin"})
RESULTS = {"pass": True, "fail": False}


def evaluate(
    session: Session,
    model: Model,
    plans: Mapping[str, Plan],
    name: str,
    result: str,
    report: str,
    actor: Principal,
    now: datetime | None = None,
) -> Evaluation:
    """Record an evaluation result as evidence for the next gate."""
    require_role(actor, EVIDENCE_ROLES, "record evaluations", second_factor=True)
    now = now or utcnow()
    state, target = next_gate(session, model, plans)
    if name not in target.gate.evaluations:
        wanted = ", ".join(target.gate.evaluations) or "none"
        raise BadRequest(
            f"The gate of {target.name} does not ask for evaluation {name!r} (it asks for: "
            f"{wanted}).",
            code="unknown_evaluation",
        )
    if result not in RESULTS:
        raise BadRequest("An evaluation result is 'pass' or 'fail'.", code="invalid_result")
    report = report.strip()
    if not report:
        raise BadRequest("An evaluation needs a report reference.", code="report_required")
    scope = gate_scope(session, model, state, target)
    evaluation = Evaluation(
        model_id=model.id,
        stage=target.name,
        revision_id=scope.revision.id if scope.revision else None,
        name=name,
        passed=RESULTS[result],
        report=report[:500],
        recorded_by_id=actor.user_id,
        recorded_at=now,
    )
    session.add(evaluation)
    record(
        session,
        EventTag.EVALUATION_RECORDED,
        actor,
        when=now,
        model=model.ref,
        revision=scope.revision.commit if scope.revision else None,
        data={"stage": target.name, "name": name, "result": result, "report": report[:500]},
    )
    session.commit()
    return evaluation


def signoff(
    session: Session,
    model: Model,
    plans: Mapping[str, Plan],
    actor: Principal,
    note: str = "",
    now: datetime | None = None,
) -> Signoff:
    """Sign off the next gate. Refused for the publisher of the current revision,
    for anyone who recorded an evaluation for this gate, and a second time."""
    require_role(actor, EVIDENCE_ROLES, "sign off gates", second_factor=True)
    now = now or utcnow()
    state, target = next_gate(session, model, plans)
    scope = gate_scope(session, model, state, target)
    if actor.user_id in barred_signers(session, scope, scope.evaluations(session)):
        raise Forbidden(
            f"{actor.label} published the current revision or recorded an evaluation for "
            f"this gate, so cannot sign it off (separation of duties).",
            code="separation_of_duties",
        )
    if any(s.user_id == actor.user_id for s in scope.signoffs(session)):
        raise Conflict(
            f"{actor.label} has already signed off the gate of {target.name}.",
            code="already_signed_off",
        )
    entry = Signoff(
        model_id=model.id,
        stage=target.name,
        revision_id=scope.revision.id if scope.revision else None,
        user_id=actor.user_id,
        note=note.strip()[:500],
        signed_at=now,
    )
    session.add(entry)
    record(
        session,
        EventTag.SIGNOFF_RECORDED,
        actor,
        when=now,
        model=model.ref,
        revision=scope.revision.commit if scope.revision else None,
        data={"stage": target.name, "note": entry.note},
    )
    session.commit()
    return entry


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    tag: str
    actor: str
    revision: str | None
    data: dict[str, Any]
    id: int = 0  # the audit event's id, the key of the console's pages


def _timeline_query(model: Model) -> Select[Any]:
    return select(AuditEvent).where(
        AuditEvent.model == model.ref,
        AuditEvent.tag.like("release:%") | AuditEvent.tag.like("catalog:%"),
    )


def _entry(e: AuditEvent) -> TimelineEntry:
    return TimelineEntry(
        e.occurred_at, e.tag, e.actor, e.revision, json.loads(e.data or "{}"), e.id
    )


def timeline(session: Session, model: Model) -> list[TimelineEntry]:
    """The model's history from the audit log: creation, revisions, every transition
    and every piece of gate evidence, oldest first."""
    return [_entry(e) for e in session.scalars(_timeline_query(model).order_by(AuditEvent.id))]


def timeline_page(session: Session, model: Model, keyset: Keyset) -> Page[TimelineEntry]:
    """One page of the timeline, newest first (distserver.paging), for the console."""
    page = keyset_page(
        session, _timeline_query(model), AuditEvent.id, keyset, lambda row: row[0].id
    )
    return Page([_entry(row[0]) for row in page.rows], page.older, page.newer)


def next_gate(
    session: Session, model: Model, plans: Mapping[str, Plan]
) -> tuple[ReleaseState, Stage]:
    state = session.get(ReleaseState, model.id)
    assert state is not None, f"{model.ref} has no release state"
    target = plans[model.plan].next_stage(state.stage)
    if target is None:
        raise Conflict(f"{model.ref} is at its plan's last stage.", code="final_stage")
    return state, target
