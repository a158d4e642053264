"""Release actions in /api/v1: evaluations, sign-offs, promote, halt, resume, demote,
and the gate checklist and timeline. Staff only; a model the caller may not see is
answered as one that does not exist. The services decide everything else."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from distserver import guards
from distserver.api import api_v1
from distserver.api.bodies import read_body, read_optional_body
from distserver.api.schemas import releases as shapes
from distserver.api.schemas.common import AUTH, MODEL_READ, NoteBody, answers
from distserver.api.spec import declare
from distserver.app_runtime import current_runtime
from distserver.catalog.models import Model
from distserver.extensions import db
from distserver.identity import Principal
from distserver.releases import services
from distserver.releases.gates import GateStatus, gate_status

WRITE_ROLES = frozenset({"safety", "admin"})
# Auditors may read a model's gate and history; only safety and admin act.
READ_ROLES = WRITE_ROLES | {"auditor"}


def release_staff_model(namespace: str, name: str, *, write: bool) -> tuple[Principal, Model]:
    if write:
        return guards.staff_model(namespace, name, WRITE_ROLES, scope="manage")
    return guards.staff_model(namespace, name, READ_ROLES, scope="read")


# Release actions may meet every refusal: a bad body, a missing role, a gate not met.
ACTED = (*AUTH, 404, 409, 413, 503)


def _note() -> str:
    # These bodies are optional: an empty POST carries no note.
    return read_optional_body(NoteBody).note or ""


def _status_json(status: GateStatus) -> dict[str, Any]:
    return {
        "id": status.ref,
        "stage": status.stage,
        "tiers": list(status.admitted_tiers),
        "halted": status.halted,
        "next_stage": status.next_stage,
        "revision": status.revision,
        "met": status.met,
        "requirements": [{"key": r.key, "met": r.met, "text": r.text} for r in status.requirements],
    }


def _current_status(model: Model) -> Response:
    return jsonify(_status_json(gate_status(db.session, model, current_runtime().plans)))


@api_v1.get("/models/<namespace>/<name>/gate")
@declare("releases", answers(200, shapes.GateStatus, MODEL_READ))
def release_gate(namespace: str, name: str) -> Response:
    """The next gate's checklist (safety, admin, auditor)."""
    _, model = release_staff_model(namespace, name, write=False)
    return _current_status(model)


@api_v1.get("/models/<namespace>/<name>/timeline")
@declare("releases", answers(200, shapes.Timeline, MODEL_READ))
def release_timeline(namespace: str, name: str) -> Response:
    """The model's release history (safety, admin, auditor)."""
    _, model = release_staff_model(namespace, name, write=False)
    entries = services.timeline(db.session, model)
    return jsonify(
        {
            "id": model.ref,
            "events": [
                {
                    "at": e.at.isoformat().replace("+00:00", "Z"),
                    "tag": e.tag,
                    "actor": e.actor,
                    "revision": e.revision,
                    "data": e.data,
                }
                for e in entries
            ],
        }
    )


@api_v1.post("/models/<namespace>/<name>/evaluations")
@declare("releases", answers(201, shapes.GateStatus, ACTED), json=shapes.EvaluationRequest)
def release_evaluate(namespace: str, name: str) -> tuple[Response, int]:
    """Record an evaluation result for the next gate (safety)."""
    principal, model = release_staff_model(namespace, name, write=True)
    body = read_body(shapes.EvaluationRequest)
    plans = current_runtime().plans
    services.evaluate(db.session, model, plans, body.name, body.result, body.report, principal)
    return _current_status(model), 201


@api_v1.post("/models/<namespace>/<name>/signoffs")
@declare("releases", answers(201, shapes.GateStatus, ACTED), json=NoteBody)
def release_signoff(namespace: str, name: str) -> tuple[Response, int]:
    """Sign off the next gate (safety)."""
    principal, model = release_staff_model(namespace, name, write=True)
    services.signoff(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model), 201


ACTION = answers(200, shapes.GateStatus, ACTED)


@api_v1.post("/models/<namespace>/<name>/promote")
@declare("releases", ACTION, json=NoteBody)
def release_promote(namespace: str, name: str) -> Response:
    """Promote to the next stage when its gate is met (safety, admin)."""
    principal, model = release_staff_model(namespace, name, write=True)
    services.promote(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/demote")
@declare("releases", ACTION, json=NoteBody)
def release_demote(namespace: str, name: str) -> Response:
    """Demote to the previous stage (safety, admin)."""
    principal, model = release_staff_model(namespace, name, write=True)
    services.demote(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/halt")
@declare("releases", ACTION, json=shapes.ReasonBody)
def release_halt(namespace: str, name: str) -> Response:
    """Halt all downloads at once, with a reason (safety, admin)."""
    principal, model = release_staff_model(namespace, name, write=True)
    reason = read_optional_body(shapes.ReasonBody).reason or ""
    services.halt(db.session, model, reason, principal)
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/resume")
@declare("releases", ACTION, json=NoteBody)
def release_resume(namespace: str, name: str) -> Response:
    """Resume downloads of a halted model (safety, admin)."""
    principal, model = release_staff_model(namespace, name, write=True)
    services.resume(db.session, model, principal, _note())
    return _current_status(model)


@api_v1.get("/models/<namespace>/<name>/copies")
@declare("releases", answers(200, shapes.Copies, MODEL_READ))
def model_copies(namespace: str, name: str) -> Response:
    """Marked copies of the model: storage per recipient and in total, and the copies
    being prepared with their progress (safety, admin, auditor)."""
    from distserver.fingerprint.copy_reports import copy_overview
    from distserver.fingerprint.preparation import progress_of

    _, model = release_staff_model(namespace, name, write=False)
    overview = copy_overview(db.session, model.id)
    report = overview.recipients
    emails = {r.user_id: r.email for r in report}
    return jsonify(
        {
            "model": model.ref,
            "recipients": [
                {
                    "user": r.email,
                    "copies": r.copies,
                    "copy_bytes": r.copy_bytes,
                    "pending": r.pending,
                    "pending_bytes": r.pending_bytes,
                }
                for r in report
            ],
            "total_copy_bytes": sum(r.copy_bytes for r in report),
            "pending": [
                {
                    "user": emails.get(t.user_id, str(t.user_id)),
                    "path": t.path,
                    **progress_of(t).as_dict(),
                }
                for t in overview.pending
            ],
        }
    )
