"""Per-request bookkeeping: the request id, the latency histogram and the one JSON log
line. No database work here: the user id is read from what the request already loaded
(the Bearer principal or Flask-Login's user), never looked up."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, Request, Response, g, has_request_context, request

from distserver.observability.logs import write_request_line
from distserver.observability.metrics import UNMATCHED_ROUTE, observe_request

log = logging.getLogger("distserver.request")

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only when it is short, printable and harmless in a log line.
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
PRINCIPAL_KEY = "distserver.principal"  # where accounts.sessions caches the principal
# The id a WSGI layer in front of Flask (distserver.fastdoors) already gave the request
# before handing it to Flask: the request keeps it.
REQUEST_ID_ENVIRON = "distserver.request_id"
# The id of a request answered outside Flask's request context (distserver.fastdoors).
_outside_flask_id: ContextVar[str | None] = ContextVar("distserver_request_id", default=None)


def new_request_id() -> str:
    return secrets.token_hex(16)


def incoming_request_id(value: str | None) -> str:
    """The client's or proxy's X-Request-ID when well formed, else a fresh one."""
    if value and WELL_FORMED_ID.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    """This request's id (None outside a request), for audit events and log lines."""
    if has_request_context():
        return g.get("request_id")
    return _outside_flask_id.get()


@contextmanager
def outside_flask_request_id(request_id: str) -> Iterator[None]:
    """`current_request_id()` is `request_id` inside the block: for a request answered
    without a Flask request context (its audit events record the id all the same)."""
    token = _outside_flask_id.set(request_id)
    try:
        yield
    finally:
        _outside_flask_id.reset(token)


def _user_id(req: Request) -> int | None:
    cached = req.environ.get(PRINCIPAL_KEY)
    if cached is not None:
        return cached[0].user_id
    user = g.get("_login_user")  # set by Flask-Login only if the request loaded the user
    if user is not None and getattr(user, "is_authenticated", False):
        return user.id
    return None


def _start() -> None:
    given = request.environ.get(REQUEST_ID_ENVIRON)
    g.request_id = given or incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.get("request_started")
    if started is None:  # a response made before our before_request ran
        return response
    seconds = time.perf_counter() - started
    req = request._get_current_object()  # type: ignore[attr-defined]  # one proxy lookup
    rule = req.url_rule
    route = rule.rule if rule is not None else UNMATCHED_ROUTE
    status = response.status_code
    request_id = g.request_id
    observe_request(route, req.method, status, seconds)
    response.headers[REQUEST_ID_HEADER] = request_id
    write_request_line(
        log,
        {
            "request_id": request_id,
            "route": route,
            "method": req.method,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "user_id": _user_id(req),
            "client": req.remote_addr,
        },
    )
    return response


def init_request_hooks(app: Flask) -> None:
    # First of the before_request hooks, so every other hook's log lines carry the id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_finish)
