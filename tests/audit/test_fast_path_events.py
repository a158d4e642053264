"""Events the download fast path writes are the events the ORM path writes (same
columns, same canonical `data`), and they seal and verify with the existing
`distserver audit seal` and `distserver audit verify` like every other event."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from distserver import create_app
from distserver.audit.chain import CHAINED_FIELDS
from distserver.downloads import fastdb
from distserver.extensions import db
from tests.audit.helpers import cli_env, distserver_cmd
from tests.support.databases import TEST_SECRET
from tests.support.world import Person, World

# What differs between two identical requests: the row id, the clock, the link id.
VARYING = {"id", "occurred_at", "link_id"}


def _requests(app: Flask, researcher: Person, stranger: Person) -> None:
    client = app.test_client()
    ok = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=researcher.auth
    )
    assert ok.status_code == 201
    assert client.get(f"/dl/{ok.json['link_id']}", headers=researcher.auth).status_code == 302
    resolve = client.get("/acme/llm/resolve/main/sub/tokenizer.json", headers=researcher.auth)
    assert resolve.status_code == 302
    refused = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=stranger.auth
    )
    assert refused.status_code == 403
    missing = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "nope.bin"}, headers=researcher.auth
    )
    assert missing.status_code == 404


def _events(since: int) -> list[tuple]:
    rows = db.session.execute(
        db.text(f"SELECT {', '.join(CHAINED_FIELDS)} FROM audit_events WHERE id > :s ORDER BY id"),  # noqa: S608
        {"s": since},
    ).mappings()
    return [
        tuple(_same_across_requests(row, k) for k in CHAINED_FIELDS if k not in VARYING)
        for row in rows
    ]


def _same_across_requests(row: Mapping[str, Any], field: str) -> Any:
    """The column, with `data`'s request id (one per request, by design) checked and left out."""
    if field != "data":
        return row[field]
    data = json.loads(row["data"])
    assert len(data.pop("request_id")) == 32
    return data


def test_fast_path_events_equal_orm_path_events_and_seal_and_verify(
    make_app, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    fast = make_app("postgres")
    with fast.app_context():
        world = World(fast, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        researcher = world.person("r@example.org", tiers=("researcher",))
        stranger = world.person("s@example.org")
        start = db.session.scalar(db.text("SELECT max(id) FROM audit_events"))
        db.session.remove()
    orm = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": fast.config["DATABASE_URL"],
            "INSTANCE_DIR": fast.instance_path,
            "SECRET_KEY": TEST_SECRET,
            "STORAGE": "local",
            "TESTING": True,
            "DOWNLOAD_FAST_PATH": False,
        }
    )
    try:
        _requests(fast, researcher, stranger)
        with fast.app_context():
            middle = db.session.scalar(db.text("SELECT max(id) FROM audit_events"))
            by_fast = _events(start)
            db.session.remove()
        _requests(orm, researcher, stranger)
        with fast.app_context():
            by_orm = _events(middle)
            db.session.remove()
    finally:
        fastdb.dispose(fast)
        with orm.app_context():
            db.session.remove()
            db.engine.dispose()
    assert len(by_fast) == 5
    assert by_fast == by_orm

    env = cli_env(fast)
    sealed = subprocess.run(
        distserver_cmd("audit", "seal"), env=env, capture_output=True, text=True, timeout=120
    )
    assert sealed.returncode == 0, sealed.stderr
    verified = subprocess.run(
        distserver_cmd("audit", "verify"), env=env, capture_output=True, text=True, timeout=120
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    with fast.app_context():
        unsealed = db.session.scalar(
            db.text(
                "SELECT count(*) FROM audit_events e"
                " LEFT JOIN audit_seals s ON s.event_id = e.id WHERE s.seq IS NULL"
            )
        )
        db.session.remove()
    assert unsealed == 0
