"""Operator endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select, text

from distserver.audit.models import AuditEvent
from distserver.audit.tags import EventTag
from distserver.extensions import csrf, db
from distserver.runtime import current_runtime
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
    counts = dict(
        db.session.execute(
            select(AuditEvent.tag, func.count())
            .where(
                AuditEvent.tag.in_(
                    [EventTag.LINK_ISSUED, EventTag.LINK_REFUSED, EventTag.LINK_USED]
                )
            )
            .group_by(AuditEvent.tag)
        ).all()
    )
    lines = [
        "# HELP distserver_links_total Download links by outcome, from the audit log.",
        "# TYPE distserver_links_total counter",
    ]
    for tag in (EventTag.LINK_ISSUED, EventTag.LINK_REFUSED, EventTag.LINK_USED):
        lines.append(
            f'distserver_links_total{{outcome="{tag.split(":")[-1]}"}} {counts.get(tag, 0)}'
        )
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
