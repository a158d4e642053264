"""OpenAPI paths of the staff-facing /api/v1 routes: organisations, webhooks, the access
report, release actions and the audit log (see openapi_paths.py)."""

from __future__ import annotations

from distserver.access.organizations import MEMBER_ROLES
from distserver.api.openapi_schema import (
    AUTH,
    INT,
    MAX_KEY,
    MODEL,
    MODEL_READ,
    NSTR,
    RELEASE,
    SLUG,
    STR,
    Schema,
    body,
    listing,
    note_body,
    obj,
    op,
    path_param,
    query,
    ref,
)

COUNTS: Schema = {"type": "object", "additionalProperties": {"type": "integer"}}
STATISTICS = obj(
    [
        "id",
        "days",
        "from",
        "to",
        "downloads",
        "unique_recipients",
        "anonymous_downloads",
        "per_day",
        "top_files",
    ],
    id=STR,
    days=INT,
    **{"from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"}},
    downloads=INT,
    unique_recipients=INT,
    anonymous_downloads=INT,
    per_day={
        "type": "array",
        "items": obj(
            ["day", "downloads", "by_tier", "by_door"],
            day={"type": "string", "format": "date"},
            downloads=INT,
            by_tier=COUNTS,
            by_door=COUNTS,
        ),
    },
    top_files={"type": "array", "items": obj(["path", "downloads"], path=STR, downloads=INT)},
)
WEBHOOK_ID = path_param("webhook_id", {"type": "integer", "minimum": 0}, "A webhook id.")

STAFF_PATHS: dict[str, Schema] = {
    "/api/v1/orgs": {
        "post": op(
            "create_org",
            "organisations",
            "Create a partner organisation (admin).",
            201,
            ref("Organisation"),
            (*AUTH, 404, 409, 413, 503),
            request=body(
                obj(
                    ["slug", "name"],
                    slug=SLUG["schema"],
                    name={"type": "string", "minLength": 1, "maxLength": 200},
                    tier={"type": "string", "description": "Default: vetted_partner."},
                )
            ),
        )
    },
    "/api/v1/orgs/{slug}": {
        "get": op(
            "show_org",
            "organisations",
            "An organisation, its agreement and members (admin or its managers).",
            200,
            ref("Organisation"),
            (*AUTH, 404, 503),
            parameters=[SLUG],
        )
    },
    "/api/v1/orgs/{slug}/members": {
        "post": op(
            "add_member",
            "organisations",
            "Add a user, by e-mail, to an organisation.",
            201,
            ref("Organisation"),
            (*AUTH, 404, 409, 413, 503),
            parameters=[SLUG],
            request=body(
                obj(
                    ["email"],
                    email={"type": "string", "format": "email"},
                    role={"type": "string", "enum": list(MEMBER_ROLES)},
                )
            ),
        )
    },
    "/api/v1/orgs/{slug}/members/{user_id}": {
        "patch": op(
            "change_member_role",
            "organisations",
            "Make a member a manager, or a manager a member (admin).",
            200,
            ref("Organisation"),
            (*AUTH, 404, 409, 413, 503),
            parameters=[
                SLUG,
                path_param("user_id", {"type": "integer", "minimum": 0}, "A user id."),
            ],
            request=body(obj(["role"], role={"type": "string", "enum": list(MEMBER_ROLES)})),
        ),
        "delete": op(
            "remove_member",
            "organisations",
            "Remove a member from an organisation.",
            200,
            ref("Organisation"),
            (*AUTH, 404, 409, 503),
            parameters=[
                SLUG,
                path_param("user_id", {"type": "integer", "minimum": 0}, "A user id."),
            ],
        ),
    },
    "/api/v1/orgs/{slug}/agreement": {
        "post": op(
            "sign_org_agreement",
            "organisations",
            "Record the organisation's signed agreement (admin).",
            201,
            ref("Organisation"),
            (*AUTH, 404, 409, 413, 503),
            parameters=[SLUG],
            request=body(
                obj(["signed_by"], signed_by={"type": "string", "minLength": 1, "maxLength": 200})
            ),
        )
    },
    "/api/v1/webhooks": {
        "get": op(
            "list_webhooks",
            "webhooks",
            "Webhooks and their recent deliveries (admin).",
            200,
            listing("webhooks", ref("Webhook")),
            (*AUTH, 503),
        ),
        "post": op(
            "create_webhook",
            "webhooks",
            "Create a webhook; its signing secret is shown only in this answer (admin).",
            201,
            {"allOf": [ref("Webhook"), obj(["secret"], secret=STR)]},
            (*AUTH, 409, 413, 503),
            request=body(
                obj(
                    ["url", "events"],
                    url={"type": "string", "format": "uri", "maxLength": 500},
                    events={"type": "array", "items": STR, "minItems": 1},
                )
            ),
        ),
    },
    "/api/v1/webhooks/{webhook_id}/rotate-secret": {
        "post": op(
            "rotate_webhook_secret",
            "webhooks",
            "Give the webhook a new signing secret, shown only in this answer (admin).",
            200,
            {"allOf": [ref("Webhook"), obj(["secret"], secret=STR)]},
            (*AUTH, 404, 409, 503),
            parameters=[WEBHOOK_ID],
        )
    },
    "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": {
        "post": op(
            "redeliver_webhook",
            "webhooks",
            "Send a past delivery's event again, as a new delivery (admin).",
            201,
            obj(
                ["id", "webhook_id", "event", "status"],
                id=INT,
                webhook_id=INT,
                event=STR,
                status=STR,
            ),
            (*AUTH, 404, 409, 503),
            parameters=[
                WEBHOOK_ID,
                path_param("delivery_id", {"type": "integer", "minimum": 0}, "A delivery id."),
            ],
        )
    },
    "/api/v1/reports/access": {
        "get": op(
            "access_report",
            "access",
            "Who holds what (reviewers and auditors see everyone; others themselves).",
            200,
            listing("rows", {"type": "object"}),
            (*AUTH, 503),
            parameters=[
                query("format", {"type": "string", "enum": ["json", "csv"]}, "json or csv")
            ],
        )
    },
    "/api/v1/models/{namespace}/{name}/gate": {
        "get": op(
            "release_gate",
            "releases",
            "The next gate's checklist (safety, admin, auditor).",
            200,
            ref("GateStatus"),
            MODEL_READ,
            parameters=MODEL,
        )
    },
    "/api/v1/models/{namespace}/{name}/timeline": {
        "get": op(
            "release_timeline",
            "releases",
            "The model's release history (safety, admin, auditor).",
            200,
            obj(["id", "events"], id=STR, events={"type": "array", "items": {"type": "object"}}),
            MODEL_READ,
            parameters=MODEL,
        )
    },
    "/api/v1/models/{namespace}/{name}/statistics": {
        "get": op(
            "model_statistics",
            "releases",
            "Download statistics counted from the audit log's issued links over the last "
            "`days` UTC days (safety, admin, auditor): per day by tier and by door, "
            "unique recipients, top files.",
            200,
            STATISTICS,
            MODEL_READ,
            parameters=[
                *MODEL,
                query(
                    "days",
                    {"type": "integer", "minimum": 1, "maximum": 366},
                    "How many UTC days, ending today (default 30).",
                ),
            ],
        )
    },
    "/api/v1/models/{namespace}/{name}/copies": {
        "get": op(
            "model_copies",
            "releases",
            "Marked copies of the model: storage per recipient and in total, and the copies "
            "being prepared with their progress (safety, admin, auditor).",
            200,
            obj(
                ["model", "recipients", "total_copy_bytes", "pending"],
                model=STR,
                recipients={"type": "array", "items": {"type": "object"}},
                total_copy_bytes={"type": "integer"},
                pending={"type": "array", "items": {"type": "object"}},
            ),
            MODEL_READ,
            parameters=MODEL,
        )
    },
    "/api/v1/models/{namespace}/{name}/evaluations": {
        "post": op(
            "release_evaluate",
            "releases",
            "Record an evaluation result for the next gate (safety).",
            201,
            ref("GateStatus"),
            RELEASE,
            parameters=MODEL,
            request=body(
                obj(
                    ["name", "result", "report"],
                    name={"type": "string", "description": "An evaluation the gate asks for."},
                    result={"type": "string", "enum": ["pass", "fail"]},
                    report={"type": "string", "minLength": 1, "description": "Kept to 500."},
                )
            ),
        )
    },
    "/api/v1/models/{namespace}/{name}/signoffs": {
        "post": op(
            "release_signoff",
            "releases",
            "Sign off the next gate (safety).",
            201,
            ref("GateStatus"),
            RELEASE,
            parameters=MODEL,
            request=note_body("note", "An optional note."),
        )
    },
}

for _action, _who, _field in (
    ("promote", "Promote to the next stage when its gate is met (safety, admin).", "note"),
    ("demote", "Demote to the previous stage (safety, admin).", "note"),
    ("halt", "Halt all downloads at once, with a reason (safety, admin).", "reason"),
    ("resume", "Resume downloads of a halted model (safety, admin).", "note"),
):
    STAFF_PATHS[f"/api/v1/models/{{namespace}}/{{name}}/{_action}"] = {
        "post": op(
            f"release_{_action}",
            "releases",
            _who,
            200,
            ref("GateStatus"),
            RELEASE,
            parameters=MODEL,
            request=note_body(
                _field, "The " + _field + (" (required)." if _field == "reason" else ".")
            ),
        )
    }

STAFF_PATHS |= {
    "/api/v1/audit/events": {
        "get": op(
            "audit_events",
            "audit",
            "Audit events newest first, filtered; `next` is the cursor of the following page.",
            200,
            listing("events", ref("AuditEvent"), next=NSTR),
            (*AUTH, 503),
            parameters=[
                query("model", STR, "NAMESPACE/NAME."),
                query("user", STR, "The actor (an e-mail address, 'anonymous', 'system')."),
                query("action", STR, "A tag, or a prefix such as 'download' or 'download:link'."),
                query("since", {"type": "string", "format": "date-time"}, "From (inclusive)."),
                query("until", {"type": "string", "format": "date-time"}, "Until (exclusive)."),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size."),
                query(
                    "cursor",
                    {"type": "integer", "minimum": 1, "maximum": MAX_KEY},
                    "The previous page's `next`.",
                ),
            ],
        )
    },
    "/api/v1/audit/checkpoints": {
        "get": op(
            "audit_checkpoints",
            "audit",
            "Signed chain heads, oldest first, and the key that verifies them.",
            200,
            obj(
                ["key_id", "public_key", "checkpoints", "next"],
                key_id=STR,
                public_key=STR,
                checkpoints={"type": "array", "items": ref("Checkpoint")},
                next=NSTR,
            ),
            (400, 401, 403, 503),
            parameters=[
                query(
                    "after",
                    {"type": "integer", "minimum": -1, "maximum": MAX_KEY},
                    "Checkpoints after this seq.",
                ),
                query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size."),
            ],
            public=True,
        )
    },
    "/api/v1/receipts/{link_id}": {
        "get": op(
            "download_receipt",
            "audit",
            "The signed receipt of one of the caller's download links.",
            200,
            {"type": "object"},
            (*AUTH, 404, 503),
            parameters=[path_param("link_id", STR, "A link id, as returned with the link.")],
        )
    },
}
