"""OpenAPI paths and schema of the /api/v1/alerts routes (api/alerts_views.py)."""

from __future__ import annotations

from distserver.api.openapi_schema import (
    AUTH,
    INT,
    MAX_KEY,
    NSTR,
    STR,
    Schema,
    listing,
    note_body,
    obj,
    op,
    path_param,
    query,
    ref,
)

ALERT_ID = [
    path_param("alert_id", {"type": "integer", "minimum": 0, "maximum": MAX_KEY}, "An alert id.")
]
ALERT: Schema = obj(
    ["id", "rule", "principal", "raised_at", "summary", "evidence", "state"],
    id=INT,
    rule=STR,
    principal={"type": "string", "description": "user:<id>, addr:<ip>, net:<cidr> or link:<id>."},
    window_key=STR,
    raised_at=STR,
    model=NSTR,
    summary=STR,
    evidence={
        "type": "array",
        "items": INT,
        "description": "Sequence numbers of the sealed audit events behind the alert.",
    },
    details={"type": "object"},
    state={"type": "string", "enum": ["open", "acknowledged", "dismissed"]},
    note=NSTR,
    decided_at=NSTR,
)
_DECIDE = (*AUTH, 404, 409, 413, 503)

ALERT_PATHS: dict[str, Schema] = {
    "/api/v1/alerts": {
        "get": op(
            "list_alerts",
            "alerts",
            "Alerts newest first, filtered (admin, safety, auditor).",
            200,
            listing("alerts", ref("Alert")),
            (*AUTH, 503),
            parameters=[
                query(
                    "state",
                    {"type": "string", "enum": ["open", "acknowledged", "dismissed"]},
                    "Only alerts in this state.",
                ),
                query("rule", STR, "Only this rule's alerts."),
                query("principal", STR, "Only alerts about this principal."),
                query("since", {"type": "string", "format": "date-time"}, "Raised from."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "At most."),
            ],
        )
    },
    "/api/v1/alerts/{alert_id}/ack": {
        "post": op(
            "ack_alert",
            "alerts",
            "Acknowledge an open alert with a note (admin, safety); releases its brake.",
            200,
            ref("Alert"),
            _DECIDE,
            parameters=ALERT_ID,
            request=note_body("note", "What was found and done (required)."),
        )
    },
    "/api/v1/alerts/{alert_id}/dismiss": {
        "post": op(
            "dismiss_alert",
            "alerts",
            "Dismiss an open alert as no misuse (admin, safety); releases its brake.",
            200,
            ref("Alert"),
            _DECIDE,
            parameters=ALERT_ID,
            request=note_body("note", "Why it is not misuse."),
        )
    },
}
