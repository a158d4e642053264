"""Every error mapped to HTTP in one place: the JSON shape of the contracts page
for the API, Hugging Face and download doors, an HTML page (web/templates/error.html)
for the web pages; never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from distserver.access.apply_links import refusal_apply_url, with_apply_sentence
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.fingerprint.preparation import CopyInPreparation
from distserver.redaction import redact

log = logging.getLogger("distserver")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


# Doors whose clients are programs: they always get the JSON shape.
JSON_BLUEPRINTS = frozenset({"api_v1", "hf", "downloads", "ops"})
PAGE_TITLES = {
    400: "Bad request",
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Unavailable",
}


def error_response(
    status: int, code: str, message: str, extra: dict[str, Any] | None = None
) -> Response:
    """The JSON error; `extra` adds fields beside code and message (apply_url,
    progress)."""
    response = jsonify({"error": {"code": code, "message": message, **(extra or {})}})
    response.status_code = status
    return response


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.blueprint in JSON_BLUEPRINTS


def error_page(status: int, code: str, message: str) -> Response:
    """The HTML page for a web request; the plain-text sentence if even the layout
    cannot render (for instance when the database is down)."""
    title = PAGE_TITLES.get(status, "Error")
    try:
        body = render_template("error.html", status=status, code=code, title=title, message=message)
    except Exception:
        log.warning("error page could not render; answering in plain text")
        body = f"<!doctype html><title>{status} {title}</title><h1>{title}</h1><p>{status}</p>"
    return Response(body, status=status, mimetype="text/html")


def _answer(status: int, code: str, message: str) -> Response:
    if wants_json():
        return error_response(status, code, message)
    return error_page(status, code, message)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CopyInPreparation)
    def copy_in_preparation(exc: CopyInPreparation) -> Response:
        if wants_json():
            response = error_response(exc.status, exc.code, exc.message, {"progress": exc.progress})
        else:
            response = error_page(exc.status, exc.code, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(DistserverError)
    def domain_error(exc: DistserverError) -> Response:
        url = refusal_apply_url(exc)
        if url and wants_json():
            message = with_apply_sentence(exc.message, url)
            return error_response(exc.status, exc.code, message, {"apply_url": url})
        return _answer(exc.status, exc.code, exc.message)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Response:
        return _answer(400, "csrf_failed", f"CSRF check failed: {exc.description}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = HTTP_CODES.get(status, "error")
        message = exc.description or exc.name
        if status == 429:
            message = f"Too many requests ({exc.description}); slow down and retry later."
        response = _answer(status, code, message)
        if status == 405 and exc.response is None:
            valid = getattr(exc, "valid_methods", None)
            if valid:
                response.headers["Allow"] = ", ".join(valid)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_down(exc: Exception) -> Response:
        from distserver.database_state import database_problem

        db.session.rollback()
        problem = database_problem(db.engine)
        if problem is None:  # reachable and migrated: a fault of ours, not the database's
            return unexpected(exc)
        log.error(
            "database error on %s %s: %s: %s",
            request.method,
            redact(request.path),  # /files/<token> and mailed links carry credentials
            type(exc).__name__,
            problem.for_operator(),
        )
        return _answer(503, problem.code, problem.message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, redact(request.path))
        return _answer(500, "internal_error", "Something went wrong on our side; it was logged.")
