"""Alerts in /api/v1: list (admin, safety, auditor), acknowledge and dismiss (admin,
safety). Their shapes are in api/schemas/alerts.py."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, jsonify, request

from distserver import guards
from distserver.alerts import service
from distserver.api import api_v1
from distserver.api.bodies import read_optional_body
from distserver.api.schemas.alerts import Alert as AlertShape
from distserver.api.schemas.alerts import AlertList, AlertNote, AlertsQuery
from distserver.api.schemas.common import AUTH, WRITE, answers
from distserver.api.spec import declare
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
@declare("alerts", answers(200, AlertList, (*AUTH, 503)), query=AlertsQuery)
def list_alerts() -> Response:
    """Alerts newest first, filtered (admin, safety, auditor)."""
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
    note = read_optional_body(AlertNote).note or ""
    alert = service.decide_alert(db.session, alert_id, state, note, principal)
    return jsonify(service.payload(alert))


DECIDED = answers(200, AlertShape, WRITE)


@api_v1.post("/alerts/<int:alert_id>/ack")
@declare("alerts", DECIDED, json=AlertNote)
def ack_alert(alert_id: int) -> Response:
    """Acknowledge an open alert with a note (admin, safety); releases its brake."""
    return _decide(alert_id, "acknowledged")


@api_v1.post("/alerts/<int:alert_id>/dismiss")
@declare("alerts", DECIDED, json=AlertNote)
def dismiss_alert(alert_id: int) -> Response:
    """Dismiss an open alert as no misuse (admin, safety); releases its brake."""
    return _decide(alert_id, "dismissed")
