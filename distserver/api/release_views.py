"""Release actions in /api/v1: evaluations, sign-offs, promote, halt, resume, demote,
and the gate checklist and timeline. Staff only; a model the caller may not see is
answered as one that does not exist. The services decide everything else."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from distserver import guards
from distserver.api import api_v1
from distserver.api.links_views import json_body, string_field
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


def _note(field: str = "note") -> str:
    # These bodies are optional: an empty POST carries no note.
    if not request.get_data(cache=True):
        return ""
    return string_field(json_body(), field, required=False) or ""


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
def release_gate(namespace: str, name: str) -> Response:
    _, model = release_staff_model(namespace, name, write=False)
    return _current_status(model)


@api_v1.get("/models/<namespace>/<name>/timeline")
def release_timeline(namespace: str, name: str) -> Response:
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
def release_evaluate(namespace: str, name: str) -> tuple[Response, int]:
    principal, model = release_staff_model(namespace, name, write=True)
    data = json_body()
    services.evaluate(
        db.session,
        model,
        current_runtime().plans,
        string_field(data, "name", required=True) or "",
        string_field(data, "result", required=True) or "",
        string_field(data, "report", required=True) or "",
        principal,
    )
    return _current_status(model), 201


@api_v1.post("/models/<namespace>/<name>/signoffs")
def release_signoff(namespace: str, name: str) -> tuple[Response, int]:
    principal, model = release_staff_model(namespace, name, write=True)
    services.signoff(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model), 201


@api_v1.post("/models/<namespace>/<name>/promote")
def release_promote(namespace: str, name: str) -> Response:
    principal, model = release_staff_model(namespace, name, write=True)
    services.promote(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/demote")
def release_demote(namespace: str, name: str) -> Response:
    principal, model = release_staff_model(namespace, name, write=True)
    services.demote(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/halt")
def release_halt(namespace: str, name: str) -> Response:
    principal, model = release_staff_model(namespace, name, write=True)
    services.halt(db.session, model, _note("reason"), principal)
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/resume")
def release_resume(namespace: str, name: str) -> Response:
    principal, model = release_staff_model(namespace, name, write=True)
    services.resume(db.session, model, principal, _note())
    return _current_status(model)


@api_v1.get("/models/<namespace>/<name>/copies")
def model_copies(namespace: str, name: str) -> Response:
    """Marked copies of the model (staff): storage per recipient and in total, and the
    copies still being prepared, with their progress."""
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
