"""The paths of the OpenAPI document of /api/v1 (see openapi.py): one entry per route of
the api_v1 blueprint, with the parameters, bodies and limits the views enforce.
tests/api/test_openapi.py fails when a route and this table disagree."""

from __future__ import annotations

from typing import Any

from distserver.access.applications import MAX_BULK, MAX_REASON, STATUSES
from distserver.access.organizations import MEMBER_ROLES
from distserver.catalog.names import MAX_PATH

Schema = dict[str, Any]
MAX_KEY = 2**63 - 1  # as api/audit_views.py

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
NSTR: Schema = {"type": ["string", "null"]}
NINT: Schema = {"type": ["integer", "null"]}
SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
ANSWERS: Schema = {
    "type": "object",
    "description": "The tier's form: field name to a string or a boolean (checkboxes).",
    "additionalProperties": {"type": ["string", "boolean"]},
}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], **props: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": props}


def listing(key: str, item: Schema, **extra: Schema) -> Schema:
    return obj([key, *extra], **{key: {"type": "array", "items": item}}, **extra)


def path_param(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def query(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


NAMESPACE = path_param(
    "namespace",
    {"type": "string", "pattern": "^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$"},
    "The model's namespace (1-64 ASCII letters, digits, '-' or '_').",
)
NAME = path_param(
    "name",
    {"type": "string", "pattern": "^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$"},
    "The model's name (1-96 ASCII letters, digits, '-', '_' or '.'; no '..').",
)
MODEL = [NAMESPACE, NAME]
APP_ID = [path_param("app_id", {"type": "integer", "minimum": 0}, "An application id.")]
GRANT_ID = [path_param("grant_id", {"type": "integer", "minimum": 0}, "A grant id.")]
SLUG = path_param(
    "slug", {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"}, "An organisation slug."
)


def body(schema: Schema, *, required: bool = True) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def note_body(field: str, description: str) -> Schema:
    return body(
        {"type": "object", "properties": {field: {"type": "string", "description": description}}},
        required=False,
    )


def op(
    operation_id: str,
    tag: str,
    summary: str,
    status: int,
    result: Schema,
    errors: tuple[int, ...],
    *,
    parameters: list[Schema] | None = None,
    request: Schema | None = None,
    public: bool = False,
    media: str = "application/json",
) -> Schema:
    out: Schema = {"operationId": operation_id, "tags": [tag], "summary": summary}
    if parameters:
        out["parameters"] = parameters
    if request is not None:
        out["requestBody"] = request
    out["responses"] = {
        str(status): {"description": "Success.", "content": {media: {"schema": result}}},
        **{str(code): {"$ref": f"#/components/responses/{code}"} for code in errors},
    }
    if public:
        # Anyone: a token is optional, and narrows or widens what is visible.
        out["security"] = [{}, {"bearerAuth": []}]
    return out


# Status sets: every authenticated call may meet a bad or under-scoped token.
AUTH = (400, 401, 403)
RELEASE = (*AUTH, 404, 409, 413, 503)
MODEL_READ = (400, 401, 403, 404, 503)

APPLY = obj(
    ["tier"],
    tier={"type": "string", "description": "The tier applied for, e.g. 'researcher'."},
    answers=ANSWERS,
    agreement_sha256={**SHA256, "description": "The sha256 of the tier's agreement read."},
    model_agreement_sha256={**SHA256, "description": "The sha256 of the model's agreement."},
)
DECISION = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": MAX_REASON}},
}
DECIDE_MANY = obj(
    ["ids", "decision"],
    ids={"type": "array", "items": INT, "minItems": 1, "maxItems": MAX_BULK, "uniqueItems": True},
    decision={"type": "string", "enum": ["approve", "reject"]},
    reason={"type": "string", "maxLength": MAX_REASON},
)
RENEW = {
    "type": "object",
    "properties": {
        "answers": ANSWERS,
        "agreement_sha256": SHA256,
        "model_agreement_sha256": SHA256,
    },
}

PATHS: dict[str, Schema] = {
    "/api/v1/openapi.json": {
        "get": op(
            "openapi_document",
            "meta",
            "This document.",
            200,
            {"type": "object"},
            (),
            public=True,
        )
    },
    "/api/v1/models": {
        "get": op(
            "models_index",
            "catalog",
            "Models visible to the caller, with stage and admitted tiers.",
            200,
            listing("models", ref("ModelSummary")),
            (400, 401, 403, 503),
            public=True,
        )
    },
    "/api/v1/models/{namespace}/{name}": {
        "get": op(
            "model_detail",
            "catalog",
            "Stage, tiers, files of main and the caller's access decision.",
            200,
            ref("ModelDetail"),
            MODEL_READ,
            parameters=MODEL,
            public=True,
        )
    },
    "/api/v1/models/{namespace}/{name}/links": {
        "post": op(
            "create_link",
            "downloads",
            "A short-lived download link for one file (an audited download).",
            201,
            ref("Link"),
            (400, 401, 403, 404, 413, 429, 503),
            parameters=MODEL,
            request=body(
                obj(
                    ["path"],
                    path={"type": "string", "minLength": 1, "maxLength": MAX_PATH},
                    revision={"type": "string", "description": "A 40-hex commit or 'main'."},
                )
            ),
            public=True,
        )
    },
    "/api/v1/models/{namespace}/{name}/applications": {
        "post": op(
            "apply",
            "access",
            "Apply for a tier with the form's answers and the agreement's sha256.",
            201,
            ref("Application"),
            (*AUTH, 404, 409, 413, 503),
            parameters=MODEL,
            request=body(APPLY),
        )
    },
    "/api/v1/models/{namespace}/{name}/agreement": {
        "post": op(
            "accept",
            "access",
            "Accept the agreements of a tier for this model.",
            201,
            obj(["tier", "model", "accepted"], tier=STR, model=STR, accepted={"type": "array"}),
            (*AUTH, 404, 409, 413, 503),
            parameters=MODEL,
            request=body(
                obj(
                    ["tier"],
                    tier=STR,
                    agreement_sha256=SHA256,
                    model_agreement_sha256=SHA256,
                )
            ),
        )
    },
    "/api/v1/applications": {
        "get": op(
            "application_queue",
            "access",
            "The review queue (reviewers), or the caller's own applications.",
            200,
            listing("applications", ref("Application")),
            (*AUTH, 503),
            parameters=[
                query(
                    "status",
                    {"type": "string", "enum": [*STATUSES, ""]},
                    "Applications in this status (default pending; empty: any).",
                ),
                query("tier", STR, "Only this tier."),
                query("model", STR, "Only this model, NAMESPACE/NAME."),
            ],
        )
    },
    "/api/v1/applications/{app_id}": {
        "get": op(
            "application_detail",
            "access",
            "One application (the applicant's own, or any for reviewers).",
            200,
            ref("Application"),
            (*AUTH, 404, 503),
            parameters=APP_ID,
        )
    },
    "/api/v1/applications/{app_id}/approve": {
        "post": op(
            "approve",
            "access",
            "Approve an application, with an optional reason (reviewers).",
            200,
            listing("applications", ref("Application")),
            (*AUTH, 404, 409, 413, 503),
            parameters=APP_ID,
            request=body(DECISION),
        )
    },
    "/api/v1/applications/{app_id}/reject": {
        "post": op(
            "reject",
            "access",
            "Reject an application, with a reason (reviewers).",
            200,
            listing("applications", ref("Application")),
            (*AUTH, 404, 409, 413, 503),
            parameters=APP_ID,
            request=body(DECISION),
        )
    },
    "/api/v1/applications/decide": {
        "post": op(
            "decide_many",
            "access",
            "Approve or reject several applications at once (reviewers).",
            200,
            listing("applications", ref("Application")),
            (*AUTH, 404, 409, 413, 503),
            request=body(DECIDE_MANY),
        )
    },
    "/api/v1/applications/{app_id}/withdraw": {
        "post": op(
            "withdraw",
            "access",
            "Withdraw one's own pending application.",
            200,
            ref("Application"),
            (*AUTH, 404, 409, 503),
            parameters=APP_ID,
        )
    },
    "/api/v1/me/access": {
        "get": op(
            "my_access",
            "access",
            "The caller's applications, grants, organisations and agreements.",
            200,
            {"type": "object"},
            (*AUTH, 503),
        )
    },
    "/api/v1/grants/{grant_id}/renew": {
        "post": op(
            "renew",
            "access",
            "Apply to renew one's own model grant.",
            201,
            ref("Application"),
            (*AUTH, 404, 409, 413, 503),
            parameters=GRANT_ID,
            request=body(RENEW, required=False),
        )
    },
    "/api/v1/grants/{grant_id}/revoke": {
        "post": op(
            "revoke",
            "access",
            "Revoke a grant (reviewers).",
            200,
            ref("RevokedGrant"),
            (*AUTH, 404, 409, 503),
            parameters=GRANT_ID,
        )
    },
    "/api/v1/grants/{grant_id}": {
        "delete": op(
            "revoke_delete",
            "access",
            "Revoke a grant (reviewers); the same as POST .../revoke.",
            200,
            ref("RevokedGrant"),
            (*AUTH, 404, 409, 503),
            parameters=GRANT_ID,
        )
    },
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
        )
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
    PATHS[f"/api/v1/models/{{namespace}}/{{name}}/{_action}"] = {
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

PATHS |= {
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
