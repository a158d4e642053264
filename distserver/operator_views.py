"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import text

from distserver.app_runtime import current_runtime
from distserver.errors import Forbidden, Unauthorized
from distserver.extensions import csrf, db
from distserver.observability import SCRAPE_NETWORKS_KEY
from distserver.observability.metrics import CONTENT_TYPE, EXTENSION_KEY, render
from distserver.observability.scrape_access import address_allowed, token_allowed
from distserver.storage.base import StorageError

bp = Blueprint("ops", __name__)
csrf.exempt(bp)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        db.session.rollback()
        checks["database"] = f"down: {type(exc).__name__}"
    try:
        current_runtime().storage.check()
        checks["storage"] = "ok"
    except StorageError as exc:
        checks["storage"] = f"down: {exc.message}"
    ok = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ok" if ok else "unavailable", "checks": checks}), 200 if ok else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text (see distserver.observability.metrics for the series); open to
    the scrapers METRICS_TOKEN and METRICS_ALLOW admit (distserver.observability)."""
    if not address_allowed(request.remote_addr, current_app.extensions[SCRAPE_NETWORKS_KEY]):
        raise Forbidden("This address may not read /metrics.", code="metrics_forbidden")
    if not token_allowed(request.headers.get("Authorization"), _metrics_token()):
        raise Unauthorized("Send 'Authorization: Bearer <METRICS_TOKEN>'.", code="invalid_token")
    body = render(db.session, current_app.extensions[EXTENSION_KEY])
    return Response(body, content_type=CONTENT_TYPE)


def _metrics_token() -> str | None:
    return current_app.config.get("METRICS_TOKEN") or None
