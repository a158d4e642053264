"""The spectree instance that collects each view's declared shapes (api/schemas/) for
the OpenAPI document (api/openapi.py).

Why spectree, and why it does not check the bodies itself: it reads pydantic models
with a decorator per view on our own Flask blueprint (flask-openapi3 and APIFlask
replace the app and blueprint classes; flask-smorest needs marshmallow schemas, a
second modelling library beside pydantic). Its own request check runs before the view
and reads malformed JSON as an empty object, so the views read their bodies through
api/bodies.py instead, after authenticating, with the error codes of the contract:
every route is declared with skip_validation=True."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from spectree import Response, SpecTree

from distserver.api.schemas.common import Error

View = TypeVar("View", bound=Callable[..., Any])

api_spec = SpecTree(
    "flask",
    mode="strict",
    annotations=False,
    openapi_version="3.1.0",
    title="distserver native API",
    version="1",
    validation_error_status=400,
    validation_error_model=Error,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)


def declare(
    tag: str,
    resp: Response,
    *,
    json: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    security: Sequence[dict[str, list[str]]] | None = None,
) -> Callable[[View], View]:
    """Declare a view's shapes for the document; the view's docstring is the summary."""
    decorator: Callable[[View], View] = api_spec.validate(
        json=json,
        query=query,
        resp=resp,
        tags=[tag],
        security=list(security) if security is not None else None,
        skip_validation=True,
    )
    return decorator
