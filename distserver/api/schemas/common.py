"""Shapes shared by every domain of the native API: the error, the path parameters,
the base classes of request bodies, and the helpers that declare a route's answers."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from spectree import Response

from distserver.api.errors import HTTP_CODES

# Ids and seqs of the audit log and alerts are 64-bit keys.
MAX_KEY = 2**63 - 1

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


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable machine-readable code, e.g. 'no_grant'.")
    message: str = Field(description="One sentence for a person.")
    apply_url: str | None = Field(
        None,
        description="Where to apply, on a refusal an application can cure "
        "(no_grant, grant_expired); the message ends by naming it too.",
    )


def _error_schema(schema: dict[str, Any]) -> None:
    # The detail inline: the whole shape of an error reads in one place of the document.
    schema["properties"]["error"] = ErrorDetail.model_json_schema()
    schema.pop("$defs", None)
    schema["example"] = ERROR_EXAMPLE


class Error(BaseModel):
    """Every error of the API (api/errors.py writes it)."""

    model_config = ConfigDict(json_schema_extra=_error_schema)
    error: ErrorDetail


ERROR_EXAMPLE = {
    "error": {
        "code": "no_grant",
        "message": "To download acme/llm-7b you need a grant in the Vetted partner "
        "or Approved researcher tier. Apply for access at "
        "https://models.example.org/models/acme/llm-7b/apply?tier=researcher",
        "apply_url": "https://models.example.org/models/acme/llm-7b/apply?tier=researcher",
    }
}


def answers(status: int, body: type[BaseModel] | None, errors: tuple[int, ...]) -> Response:
    """A route's answers for the document: `body` on success, the Error on each of
    `errors` with the sentence of ERROR_TEXT."""
    codes: dict[str, Any] = {f"HTTP_{status}": (body, "Success.") if body else "Success."}
    for code in errors:
        codes[f"HTTP_{code}"] = (Error, f"{HTTP_CODES[code]}: {ERROR_TEXT[code]}")
    return Response(**codes)


# Error sets: every authenticated call may meet a bad or under-scoped token.
AUTH = (400, 401, 403)
WRITE = (*AUTH, 404, 409, 413, 503)
MODEL_READ = (400, 401, 403, 404, 503)
# Anyone: a token is optional, and narrows or widens what is visible.
PUBLIC: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]


def checked_later(default: Any = ..., **schema: Any) -> Any:
    """A field whose rule the document states but the service checks, after the caller
    is authorised and with the rule's own error code (unknown_tier, invalid_slug, ...);
    the body model checks only its type."""
    return Field(default, json_schema_extra=schema)


class JsonBody(BaseModel):
    """A request body: a JSON object whose fields are checked for type, strictly (no
    "1" for 1), in the order declared; other fields are ignored. `refusals` gives a
    field whose refusal has its own code and sentence; every other field is refused
    with invalid_field and "Field 'x' must be <expected>."."""

    model_config = ConfigDict(strict=True, frozen=True)
    refusals: ClassVar[dict[str, tuple[str, str]]] = {}


class OptionalBody(JsonBody):
    """A body the route also takes empty (the document marks it not required)."""


def _query_schema(schema: dict[str, Any]) -> None:
    # A query parameter is absent or a string: None (absent) is no value to document.
    for prop in schema.get("properties", {}).values():
        kinds = prop.pop("anyOf", None)
        if kinds:
            prop.update(next(k for k in kinds if k != {"type": "null"}))
        if prop.get("default", "") in ("", None):
            prop.pop("default", None)


class QueryParameters(BaseModel):
    """A route's query parameters, for the document. The views parse them with
    distserver.inputs (integers in ASCII digits only, which pydantic's lax parsing is
    not); a field that defaults to None or "" is simply optional."""

    model_config = ConfigDict(json_schema_extra=_query_schema)


class PathParameters(BaseModel):
    """The path parameters of every route, by name (the document's `in: path`)."""

    namespace: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9])?$",
            description="The model's namespace (1-64 ASCII letters, digits, '-' or '_').",
        ),
    ]
    name: Annotated[
        str,
        Field(
            pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$",
            description="The model's name (1-96 ASCII letters, digits, '-', '_' or '.'; no '..').",
        ),
    ]
    app_id: Annotated[int, Field(ge=0, description="An application id.")]
    grant_id: Annotated[int, Field(ge=0, description="A grant id.")]
    slug: Annotated[
        str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="An organisation slug.")
    ]
    user_id: Annotated[int, Field(ge=0, description="A user id.")]
    webhook_id: Annotated[int, Field(ge=0, description="A webhook id.")]
    delivery_id: Annotated[int, Field(ge=0, description="A delivery id.")]
    alert_id: Annotated[int, Field(ge=0, le=MAX_KEY, description="An alert id.")]
    link_id: Annotated[str, Field(description="A link id, as returned with the link.")]


class NoteBody(OptionalBody):
    note: str | None = Field(None, description="An optional note.")
