"""Release actions in /api/v1: evaluations, sign-offs, promote, halt, resume, demote,
and the gate checklist and timeline. Staff only; a model the caller may not see is
answered as one that does not exist. The services decide everything else."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from distserver.access.policy import Principal, may_see
from distserver.accounts.sessions import current_principal
from distserver.api import api_v1
from distserver.api.links_views import json_body, string_field
from distserver.catalog.models import Model
from distserver.catalog.names import check_names
from distserver.catalog.services import find_model
from distserver.errors import Forbidden, NotFound, Unauthorized
from distserver.extensions import db
from distserver.releases import services
from distserver.releases.gates import GateStatus, gate_status
from distserver.runtime import current_runtime

WRITE_ROLES = frozenset({"safety", "admin"})
# Auditors may read a model's gate and history; only safety and admin act.
READ_ROLES = WRITE_ROLES | {"auditor"}


def _staff_model(namespace: str, name: str, *, write: bool) -> tuple[Principal, Model]:
    check_names(namespace, name)
    principal = current_principal(scope="manage" if write else "read")
    if principal.anonymous:
        raise Unauthorized("Sign in or send a Bearer token.", code="login_required")
    model = find_model(db.session, namespace, name)
    facts = services.model_facts(db.session, model, current_runtime().plans) if model else None
    if model is None or not may_see(principal, facts):
        raise NotFound(f"No model {namespace}/{name}.", code="not_found")
    roles = WRITE_ROLES if write else READ_ROLES
    if principal.suspended or not principal.roles & roles:
        raise Forbidden(f"Only {' or '.join(sorted(roles))} staff may do this.", code="forbidden")
    return principal, model


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
    _, model = _staff_model(namespace, name, write=False)
    return _current_status(model)


@api_v1.get("/models/<namespace>/<name>/timeline")
def release_timeline(namespace: str, name: str) -> Response:
    _, model = _staff_model(namespace, name, write=False)
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
    principal, model = _staff_model(namespace, name, write=True)
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
    principal, model = _staff_model(namespace, name, write=True)
    services.signoff(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model), 201


@api_v1.post("/models/<namespace>/<name>/promote")
def release_promote(namespace: str, name: str) -> Response:
    principal, model = _staff_model(namespace, name, write=True)
    services.promote(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/demote")
def release_demote(namespace: str, name: str) -> Response:
    principal, model = _staff_model(namespace, name, write=True)
    services.demote(db.session, model, current_runtime().plans, principal, _note())
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/halt")
def release_halt(namespace: str, name: str) -> Response:
    principal, model = _staff_model(namespace, name, write=True)
    services.halt(db.session, model, _note("reason"), principal)
    return _current_status(model)


@api_v1.post("/models/<namespace>/<name>/resume")
def release_resume(namespace: str, name: str) -> Response:
    principal, model = _staff_model(namespace, name, write=True)
    services.resume(db.session, model, principal, _note())
    return _current_status(model)


@api_v1.get("/models/<namespace>/<name>/copies")
def model_copies(namespace: str, name: str) -> Response:
    """Marked copies of the model (staff): storage per recipient and in total, and the
    copies still being prepared, with their progress."""
    from distserver.fingerprint.copy_reports import copy_overview
    from distserver.fingerprint.preparation import progress_of

    _, model = _staff_model(namespace, name, write=False)
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
