"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of the native API, as Python
data. The paths are in openapi_paths.py; this module holds the shared components
(the error shape of api/errors.py, the response schemas, the Bearer scheme)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from flask import Response, jsonify

from distserver.api import api_v1
from distserver.api.errors import HTTP_CODES
from distserver.api.openapi_alerts_paths import ALERT
from distserver.api.openapi_paths import PATHS
from distserver.api.openapi_schema import BOOL, INT, NINT, NSTR, STR, Schema, obj, ref

ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 429, 503)
ERROR_TEXT = {
    400: "The request is malformed: bad JSON, a bad field, name, path or parameter.",
    401: "Sign-in needed, or the Bearer token is unknown, expired or revoked.",
    403: "Not allowed: a missing role or grant, a suspended account, a token lacking a scope.",
    404: "Not found, or not visible to the caller (answered alike).",
    409: "The request conflicts with the current state.",
    413: "The body is too large.",
    429: "Too many requests; retry later.",
    503: "The database or a required service is unavailable; retry shortly.",
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "A stable machine-readable code, e.g. 'no_grant'.",
                    },
                    "message": {"type": "string", "description": "One sentence for a person."},
                    "apply_url": {
                        "type": "string",
                        "description": "Where to apply, on a refusal an application can cure "
                        "(no_grant, grant_expired); the message ends by naming it too.",
                    },
                },
            }
        },
        "example": {
            "error": {
                "code": "no_grant",
                "message": "To download acme/llm-7b you need a grant in the Vetted partner or "
                "Approved researcher tier. Apply for access at "
                "https://models.example.org/models/acme/llm-7b/apply?tier=researcher",
                "apply_url": "https://models.example.org/models/acme/llm-7b/apply?tier=researcher",
            }
        },
    },
    "ModelSummary": obj(
        ["id", "title", "stage", "tiers", "halted"],
        id={"type": "string", "description": "NAMESPACE/NAME"},
        title=NSTR,
        stage=STR,
        tiers={"type": "array", "items": STR},
        halted=BOOL,
    ),
    "ModelDetail": {
        "allOf": [
            ref("ModelSummary"),
            obj(
                ["revision", "files", "access"],
                revision={**NSTR, "description": "The 40-hex commit of main."},
                files={
                    "type": "array",
                    "items": obj(
                        ["path", "size", "sha256", "fingerprint"],
                        path=STR,
                        size=INT,
                        sha256=STR,
                        fingerprint={"enum": [None, "copy", "pending"]},
                    ),
                },
                access=obj(
                    ["allowed", "tier", "reason", "message"],
                    allowed=BOOL,
                    tier=NSTR,
                    reason=NSTR,
                    message=NSTR,
                ),
            ),
        ]
    },
    "Link": obj(
        ["url", "expires_at", "link_id", "size", "sha256"],
        url={"type": "string", "description": "The signed storage URL."},
        expires_at={"type": "string", "format": "date-time"},
        link_id=STR,
        dl_url={"type": "string", "description": "/dl/{link_id}: re-decides on each use."},
        size=INT,
        sha256=STR,
        path=STR,
        revision=STR,
        tier=NSTR,
    ),
    "Application": obj(
        ["id", "user", "model", "tier", "status"],
        id=INT,
        user=STR,
        model=STR,
        tier=STR,
        status={"type": "string", "enum": ["pending", "approved", "rejected", "withdrawn"]},
        answers={"type": "object"},
        agreement_sha256=NSTR,
        agreement_version=NSTR,
        renewal_of=NINT,
        created_at=NSTR,
        decided_at=NSTR,
        decided_by=NSTR,
        reason=NSTR,
        grant_id=NINT,
        history={"type": "array", "items": {"type": "object"}},
    ),
    "RevokedGrant": obj(["id", "revoked_at"], id=INT, revoked_at=NSTR),
    "Organisation": obj(
        ["slug", "name", "tier", "agreement", "members"],
        slug=STR,
        name=STR,
        tier=STR,
        agreement={"type": ["object", "null"]},
        members={
            "type": "array",
            "items": obj(
                ["user_id", "email", "role"], user_id=INT, email=STR, role=STR, added_at=NSTR
            ),
        },
    ),
    "Webhook": obj(
        ["id", "url", "events", "active"],
        id=INT,
        url=STR,
        events={"type": "array", "items": STR},
        active=BOOL,
        created_at=NSTR,
        deliveries={"type": "array", "items": {"type": "object"}},
    ),
    "GateStatus": obj(
        ["id", "stage", "tiers", "halted", "next_stage", "met", "requirements"],
        id=STR,
        stage=STR,
        tiers={"type": "array", "items": STR},
        halted=BOOL,
        next_stage=NSTR,
        revision=NSTR,
        met=BOOL,
        requirements={
            "type": "array",
            "items": obj(["key", "met", "text"], key=STR, met=BOOL, text=STR),
        },
    ),
    "Alert": ALERT,
    "AuditEvent": obj(
        ["id", "occurred_at", "action", "actor"],
        id=INT,
        seq=NINT,
        hash=NSTR,
        occurred_at=STR,
        action=STR,
        actor_id=NINT,
        actor=NSTR,
        address=NSTR,
        user_agent=NSTR,
        model=NSTR,
        revision=NSTR,
        path=NSTR,
        sha256=NSTR,
        tier=NSTR,
        reason=NSTR,
        link_id=NSTR,
        data={"type": "object"},
    ),
    "Checkpoint": obj(
        ["seq", "head_hash", "created_at", "key_id", "signature"],
        seq=INT,
        head_hash=STR,
        created_at=STR,
        key_id=STR,
        signature=STR,
    ),
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "distserver native API",
        "version": "1",
        "description": (
            "Staged-access model distribution: catalog, audited download links, early-access "
            "applications and grants, release gates and the audit log. JSON in and out; every "
            'error is {"error": {"code", "message"}} with a fitting status. Authenticate with '
            "'Authorization: Bearer <token>' (scope 'read' for reads, 'manage' for writes) or "
            "the web session, whose writes need the CSRF token. Objects the caller may not see "
            "answer 404, exactly as missing ones."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{"bearerAuth": []}],
    "tags": [
        {"name": name}
        for name in (
            "meta",
            "catalog",
            "downloads",
            "access",
            "organisations",
            "webhooks",
            "releases",
            "audit",
            "alerts",
        )
    ],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token; its scopes are 'read' and 'manage'.",
            }
        },
        "schemas": SCHEMAS,
        "responses": {
            str(status): {
                "description": f"{HTTP_CODES[status]}: {ERROR_TEXT[status]}",
                "content": {"application/json": {"schema": ref("Error")}},
            }
            for status in ERROR_STATUSES
        },
    },
}


def document() -> dict[str, Any]:
    """A copy of the document (callers may change theirs freely)."""
    return deepcopy(DOCUMENT)


@api_v1.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(DOCUMENT)
