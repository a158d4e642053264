"""Faults: the database going away mid-run, and S3 out of reach."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from distserver.downloads.models import DownloadLink
from distserver.extensions import db
from tests.support.databases import pg_admin_engine
from tests.support.world import World


def set_connections(name: str, allowed: bool) -> None:
    engine = pg_admin_engine()
    with engine.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
    engine.dispose()


def test_database_outage_gives_503_then_service_resumes(make_app, tmp_path: Path) -> None:
    app = make_app("postgres")
    name = app.config["DATABASE_URL"].rsplit("/", 1)[1]
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",))
        db.session.remove()
    client = app.test_client()
    ask = {"json": {"path": "config.json"}, "headers": person.auth}
    assert client.post("/api/v1/models/acme/llm/links", **ask).status_code == 201
    set_connections(name, False)
    try:
        down = client.post("/api/v1/models/acme/llm/links", **ask)
        assert down.status_code == 503, down.data[:300]
        assert down.json["error"]["code"] == "database_unavailable"
        assert b"Traceback" not in down.data
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json["checks"]["database"].startswith("down")
    finally:
        set_connections(name, True)
    back = client.post("/api/v1/models/acme/llm/links", **ask)
    assert back.status_code == 201, back.data[:300]
    with app.app_context():
        links = db.session.scalars(db.select(DownloadLink.id)).all()
        issued = {e.link_id for e in world.events("download:link:issued")}
        assert set(links) == issued
        assert len(issued) == 2


def test_s3_out_of_reach_fails_readiness_but_not_signing(make_app, db_backend, s3_env, tmp_path):  # type: ignore[no-untyped-def]
    from distserver import create_app
    from tests.support.s3fixtures import s3_settings

    app = make_app(db_backend, **s3_settings(s3_env))
    with app.app_context():
        World(app, tmp_path / "src").model("acme/llm", stage="general-availability")
    assert app.test_client().get("/readyz").status_code == 200
    # A second server on the same database whose S3 endpoint does not answer.
    keys = ("ENV", "DATABASE_URL", "INSTANCE_DIR", "SECRET_KEY", "STORAGE", "S3_BUCKET")
    cut_off = create_app(
        {**{k: app.config[k] for k in keys}, "S3_ENDPOINT_URL": "http://127.0.0.1:1"}
    )
    client = cut_off.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["checks"]["storage"].startswith("down")
    # Signing is local: links are still issued, and S3 checks them when it is back.
    issued = client.post("/api/v1/models/acme/llm/links", json={"path": "config.json"})
    assert issued.status_code == 201
    assert "127.0.0.1:1/" in issued.json["url"]
    with cut_off.app_context():
        db.session.remove()
        db.engine.dispose()
