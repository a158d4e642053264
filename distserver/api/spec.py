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

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from spectree import Response, SpecTree

from distserver.api.schemas.common import Error

View = TypeVar("View", bound=Callable[..., Any])


class DeferredSchemas(SpecTree):
    """A SpecTree that makes each model's JSON schema when the document is first asked
    for, not when a view is declared. spectree makes them as the decorators run, at
    import: about a fifth of the start-up of every process that builds the app (each
    CLI command, gunicorn worker and test process), for a document few of them serve.
    The models are added in the order they were declared, so the document is the same."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[tuple[Any, Any]] = []
        self._pending_lock = threading.Lock()

    def _add_model(self, model: Any, mode: Any = "validation") -> str:
        self._pending.append((model, mode))
        return str(self.naming_strategy(model))

    def _generate_spec(self) -> dict[str, Any]:
        with self._pending_lock:  # two threads may ask for the first document at once
            for model, mode in self._pending:
                SpecTree._add_model(self, model, mode)
            self._pending.clear()
            return super()._generate_spec()


api_spec = DeferredSchemas(
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
