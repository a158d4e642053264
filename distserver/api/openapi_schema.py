"""Building blocks of the OpenAPI document of /api/v1: JSON schemas, parameters and
the operation helper shared by openapi_paths.py and openapi_staff_paths.py."""

from __future__ import annotations

from typing import Any

from distserver.access.applications import MAX_BULK, MAX_REASON

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
