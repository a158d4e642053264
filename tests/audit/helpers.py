"""Shared helpers of the audit integration tests."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from distserver.audit.keys import signing_key
from distserver.extensions import db

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def add_events(n: int, *, start: datetime | None = None, model: str = "acme/llm") -> None:
    """Insert n events with multi-row INSERTs (fast), committed."""
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "occurred_at": start + timedelta(seconds=i, microseconds=i % 997),
            "tag": "download:link:issued" if i % 3 else "account:login:succeeded",
            "actor_id": None,
            "actor": f"user{i % 7}@example.org",
            "address": "127.0.0.1",
            "user_agent": "pytest \u00e9\u4e2d",
            "model": model if i % 2 else None,
            "revision": None,
            "path": f"f/{i}.bin",
            "sha256": f"{i:064x}",
            "tier": "researcher",
            "reason": None,
            "link_id": None,
            "data": json.dumps({"i": i}),
        }
        for i in range(n)
    ]
    table = sa.table("audit_events", *(sa.column(k) for k in rows[0]))
    for chunk in range(0, n, 2000):
        db.session.execute(sa.insert(table), rows[chunk : chunk + 2000])
    db.session.commit()


def key(app: Flask):  # type: ignore[no-untyped-def]
    return signing_key(app.config)


def cli_env(app: Flask) -> dict[str, str]:
    """Environment that makes `distserver` (in a subprocess) load this test app's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update(
        {
            "DISTSERVER_ENV": "testing",
            "DISTSERVER_DATABASE_URL": app.config["DATABASE_URL"],
            "DISTSERVER_INSTANCE_DIR": app.instance_path,
            "DISTSERVER_SECRET_KEY": app.config["SECRET_KEY"],
            "DISTSERVER_STORAGE": "local",
            "PYTHONPATH": PROJECT,
        }
    )
    return env


def distserver_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "distserver", *args]


def seal_rows() -> list[Any]:
    return list(
        db.session.execute(sa.text("SELECT seq, event_id, hash FROM audit_seals ORDER BY seq"))
    )
