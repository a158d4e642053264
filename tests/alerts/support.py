"""Helpers for the alert tests: an app whose tiers folder carries a rules file, link
requests through the real doors from a client address set by the trusted proxy, and
sealing then evaluating as the scheduled jobs do."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from distserver.alerts.evaluate import EvaluationReport, evaluate
from distserver.alerts.models import Alert
from distserver.alerts.service import current_rules
from distserver.audit.keys import signing_key
from distserver.audit.sealing import seal_pending
from distserver.config import PROJECT_DIR
from distserver.extensions import db

PROXY = "10.0.0.2"  # every request arrives through the one trusted proxy


def alerts_app(make_app: Any, tmp_path: Path, backend: str, rules: str, **settings: Any) -> Flask:
    """An app (TRUSTED_PROXY_COUNT=1) whose tiers/alerts/rules.toml is `rules`."""
    tiers = tmp_path / "tiers"
    shutil.copytree(PROJECT_DIR / "tiers", tiers)
    (tiers / "alerts" / "rules.toml").write_text(rules)
    return make_app(backend, TIERS_DIR=str(tiers), TRUSTED_PROXY_COUNT=1, **settings)


def ask(
    client: FlaskClient,
    address: str,
    *,
    ref: str = "acme/llm",
    path: str = "config.json",
    auth: dict[str, str] | None = None,
) -> Any:
    """POST a link request for `path` of `ref` as the client at `address`."""
    headers = {"X-Forwarded-For": address, **(auth or {})}
    return client.post(
        f"/api/v1/models/{ref}/links",
        json={"path": path},
        headers=headers,
        environ_base={"REMOTE_ADDR": PROXY},
    )


def seal_and_evaluate(app: Flask) -> EvaluationReport:
    """What the audit.seal and alerts.evaluate jobs do, in turn."""
    seal_pending(db.session, signing_key(app.config))
    return evaluate(db.session, current_rules())


def alerts(rule: str | None = None) -> list[Alert]:
    db.session.expire_all()
    query = db.select(Alert).order_by(Alert.id)
    if rule:
        query = query.where(Alert.rule == rule)
    return list(db.session.scalars(query))
