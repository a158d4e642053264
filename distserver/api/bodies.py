"""Request bodies of the native API, read and checked in one place: the size cap and
the JSON of json_body(), then the fields by the route's model of api/schemas/
(read_body). A view calls these after authenticating the caller, so a stranger's
malformed body is a 401 like any other of its requests."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from distserver.api.schemas.common import JsonBody
from distserver.errors import BadRequest
from distserver.inputs import parse_json_body

MAX_BODY = 16 * 1024
Body = TypeVar("Body", bound=JsonBody)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it; 413 over
    MAX_BODY bytes, chunked bodies included."""
    too_large = BadRequest(
        f"The body is larger than {MAX_BODY} bytes.", code="too_large", status=413
    )
    if request.content_length and request.content_length > MAX_BODY:
        raise too_large
    # Caps a chunked body too: one byte over the cap is enough to know (a stream
    # opened before this call keeps the app's MAX_CONTENT_LENGTH).
    request.max_content_length = MAX_BODY + 1
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise too_large
    data = parse_json_body(raw) if raw.strip() else None
    if data is None:
        raise BadRequest("The body must be a JSON object.", code="invalid_json")
    if not isinstance(data, dict):
        raise BadRequest(
            "The body must be a JSON object, not a list or a value.", code="invalid_json"
        )
    return data


def read_body(model: type[Body], data: dict[str, Any] | None = None) -> Body:
    """`data` (default: the request's JSON object) checked by `model`; a 400 naming the
    first field that is wrong otherwise."""
    try:
        return model.model_validate(json_body() if data is None else data)
    except ValidationError as exc:
        raise refusal(model, exc.errors()[0]) from None


def read_optional_body(model: type[Body]) -> Body:
    """As read_body, but an empty body is the model's defaults."""
    return read_body(model, json_body() if request.get_data(cache=True) else {})


def refusal(model: type[JsonBody], error: ErrorDetails) -> BadRequest:
    field = str(error["loc"][0]) if error["loc"] else ""
    if field in model.refusals:
        code, message = model.refusals[field]
        return BadRequest(message, code=code)
    annotation = model.model_fields[field].annotation if field in model.model_fields else None
    if annotation in (str, str | None):
        return BadRequest(f"Field {field!r} must be a string.", code="invalid_field")
    return BadRequest(f"Field {field!r}: {error['msg']}.", code="invalid_field")
