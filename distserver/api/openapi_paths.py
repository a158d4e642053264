"""The paths of the OpenAPI document of /api/v1 (see openapi.py): one entry per route of
the api_v1 blueprint, with the parameters, bodies and limits the views enforce.
tests/api/test_openapi.py fails when a route and this table disagree. Catalog, links,
applications and grants are here; organisations, webhooks, reports, releases and the
audit log are in openapi_staff_paths.py."""

from __future__ import annotations

from distserver.access.applications import STATUSES
from distserver.api.openapi_alerts_paths import ALERT_PATHS
from distserver.api.openapi_schema import (
    APP_ID,
    APPLY,
    AUTH,
    DECIDE_MANY,
    DECISION,
    GRANT_ID,
    MODEL,
    MODEL_READ,
    RENEW,
    SHA256,
    STR,
    Schema,
    body,
    listing,
    obj,
    op,
    query,
    ref,
)
from distserver.api.openapi_staff_paths import STAFF_PATHS
from distserver.catalog.names import MAX_PATH

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
    **STAFF_PATHS,
    **ALERT_PATHS,
}
