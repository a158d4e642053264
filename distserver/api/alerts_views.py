"""Alerts in /api/v1: list (admin, safety, auditor), acknowledge and dismiss (admin,
safety). The document is in openapi_alerts_paths.py."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, jsonify, request

from distserver import guards
from distserver.alerts import service
from distserver.api import api_v1
from distserver.api.links_views import json_body, string_field
from distserver.errors import BadRequest
from distserver.extensions import db
from distserver.identity import require_role
from distserver.inputs import int_arg


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest("since is not an ISO 8601 time.", code="invalid_since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@api_v1.get("/alerts")
def list_alerts() -> Response:
    principal = guards.principal("read")
    require_role(principal, service.READERS, "read alerts")
    f = service.AlertFilter(
        state=request.args.get("state") or None,
        rule=request.args.get("rule") or None,
        principal=request.args.get("principal") or None,
        since=_since(request.args.get("since")),
        limit=int_arg(request.args, "limit", 100, 1, 1000) or 100,
    )
    found = service.list_alerts(db.session, f)
    return jsonify({"alerts": [service.payload(a) for a in found]})


def _decide(alert_id: int, state: str) -> Response:
    principal = guards.principal("manage")
    note = ""
    if request.get_data(cache=True):
        note = string_field(json_body(), "note", required=False) or ""
    alert = service.decide_alert(db.session, alert_id, state, note, principal)
    return jsonify(service.payload(alert))


@api_v1.post("/alerts/<int:alert_id>/ack")
def ack_alert(alert_id: int) -> Response:
    return _decide(alert_id, "acknowledged")


@api_v1.post("/alerts/<int:alert_id>/dismiss")
def dismiss_alert(alert_id: int) -> Response:
    return _decide(alert_id, "dismissed")
