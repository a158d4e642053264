"""The download fast path on the real PostgreSQL: its round-trip budget (two, or one
with the facts cached), counted from libpq's own protocol trace of every connection
the app uses; the event committed,
durably, before the signer runs; a failing write answering 5xx with nothing signed
and nothing half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from distserver.app_runtime import current_runtime
from distserver.downloads import fastcache, fastdb
from distserver.downloads.models import DownloadLink, QuotaCounter
from distserver.extensions import db
from tests.support.world import World

# Round trips per link: the facts query and the one writing statement.
BUDGET = 2
# With the facts cached (downloads.fastcache): the writing statement alone. The /dl/
# door does not cache (its facts are the link's own row), so it keeps BUDGET.
CACHED_BUDGET = 1
CACHED_DOORS = ("api", "hf")
LINKS = 12


@pytest.fixture
def pg(make_app, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = make_app("postgres")
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",))
        db.session.remove()
    yield app, world, person
    fastdb.dispose(app)


@contextmanager
def round_trips(app) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """libpq's trace of every connection the app checks out (ORM pool and fast-path
    pool) while the block runs: one ReadyForQuery from the server per round trip,
    whatever caused it (statement, BEGIN, COMMIT, ROLLBACK, pre-ping)."""
    with app.app_context():
        engines = [db.engine, fastdb.engine(app)]
    fd, name = tempfile.mkstemp(suffix=".pqtrace")

    def on(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        dbapi_conn.pgconn.trace(fd)
        dbapi_conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def off(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.pgconn.untrace()

    for engine in engines:
        sa.event.listen(engine.pool, "checkout", on)
        sa.event.listen(engine.pool, "checkin", off)
    lines: list[str] = []
    try:
        yield lines
    finally:
        for engine in engines:
            sa.event.remove(engine.pool, "checkout", on)
            sa.event.remove(engine.pool, "checkin", off)
        os.close(fd)
        lines.extend(Path(name).read_text(errors="replace").splitlines())
        os.unlink(name)


def ready(lines: list[str]) -> int:
    return sum(1 for line in lines if line.startswith("B\t") and "ReadyForQuery" in line)


def test_a_link_costs_at_most_two_round_trips_on_each_door_or_one_cached(pg) -> None:  # type: ignore[no-untyped-def]
    app, _, person = pg
    client = app.test_client()
    ask = {"json": {"path": "config.json"}, "headers": person.auth}
    first = client.post("/api/v1/models/acme/llm/links", **ask)
    assert first.status_code == 201
    assert "Set-Cookie" not in first.headers, "a token request got a session cookie"
    dl = f"/dl/{first.json['link_id']}"
    resolve = "/acme/llm/resolve/main/config.json"
    # Warm-up: each statement is prepared once per connection.
    for _ in range(2):
        assert client.post("/api/v1/models/acme/llm/links", **ask).status_code == 201
        assert client.get(dl, headers=person.auth).status_code == 302
        assert client.get(resolve, headers=person.auth).status_code == 302
    for door, answer, call in (
        ("api", 201, lambda: client.post("/api/v1/models/acme/llm/links", **ask)),
        ("dl", 302, lambda: client.get(dl, headers=person.auth)),
        ("hf", 302, lambda: client.get(resolve, headers=person.auth)),
    ):
        for cache in ("cold", "warm"):
            with round_trips(app) as lines:
                statuses = {_called(call, cold=cache == "cold") for _ in range(LINKS)}
            assert statuses == {answer}, (door, statuses)
            per_link = ready(lines) / LINKS
            text = "\n".join(lines)
            print(f"\n{door} ({cache} cache): {per_link} round trips per link")
            budget = CACHED_BUDGET if cache == "warm" and door in CACHED_DOORS else BUDGET
            assert per_link <= budget, f"{door}, {cache}: {per_link} per link\n{text[:3000]}"
            assert '"BEGIN"' not in text
            assert '"COMMIT"' not in text
            assert '"ROLLBACK"' not in text


def _called(call: Any, *, cold: bool) -> int:
    if cold:
        fastcache.clear()
    return int(call().status_code)


def test_a_refusal_costs_at_most_two_round_trips_or_one_cached(pg) -> None:  # type: ignore[no-untyped-def]
    app, world, _ = pg
    with app.app_context():
        stranger = world.person("s@example.org")
        db.session.remove()
    client = app.test_client()
    ask = {"json": {"path": "config.json"}, "headers": stranger.auth}
    for _ in range(2):
        assert client.post("/api/v1/models/acme/llm/links", **ask).status_code == 403
    for cache in ("cold", "warm"):
        with round_trips(app) as lines:
            for _ in range(LINKS):
                if cache == "cold":
                    fastcache.clear()
                refused = client.post("/api/v1/models/acme/llm/links", **ask)
                assert refused.json["error"]["code"] == "no_grant"
        assert ready(lines) / LINKS <= (BUDGET if cache == "cold" else CACHED_BUDGET), cache
    with app.app_context():
        assert len(world.events("download:link:refused")) == 2 * LINKS + 2


def test_the_event_is_committed_durably_before_the_signer_runs(pg, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, _, person = pg
    url = app.config["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        # The database's own default says otherwise: the fast path sets its own.
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    fastdb.dispose(app)
    with app.app_context():
        storage = current_runtime().storage
    seen: list[tuple[Any, ...]] = []
    real = storage.signed_url

    def signer(*args: Any, **kwargs: Any) -> str:
        # Its own connection: only committed rows are visible to it.
        with psycopg.connect(url) as own:
            row = own.execute(
                "SELECT l.id, e.tag, e.link_id FROM download_links l"
                " JOIN audit_events e ON e.link_id = l.id"
                " ORDER BY e.id DESC LIMIT 1"
            ).fetchone()
        assert row is not None
        seen.append(row)
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "signed_url", signer)
    r = app.test_client().post(
        "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=person.auth
    )
    assert r.status_code == 201, r.json
    assert seen == [(r.json["link_id"], "download:link:issued", r.json["link_id"])]
    assert fastdb.fetch_one(app, "SHOW synchronous_commit", {}) == ("on",)


def test_a_failing_write_answers_5xx_signs_nothing_and_writes_nothing(pg, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    app, world, person = pg
    url = app.config["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as own:
        own.execute(
            "CREATE FUNCTION refuse_link() RETURNS trigger LANGUAGE plpgsql AS"
            " $$BEGIN RAISE EXCEPTION 'disk full (test)'; END$$"
        )
        own.execute(
            "CREATE TRIGGER refuse_link BEFORE INSERT ON download_links"
            " FOR EACH ROW EXECUTE FUNCTION refuse_link()"
        )
    with app.app_context():
        storage = current_runtime().storage
    calls: list[Any] = []
    monkeypatch.setattr(storage, "signed_url", lambda *a, **k: calls.append(a) or "x")
    r = app.test_client().post(
        "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=person.auth
    )
    # The database is up and migrated: the failure is ours (500), not the database's (503).
    assert (r.status_code, r.json["error"]["code"]) == (500, "internal_error"), r.json
    assert set(r.json["error"]) == {"code", "message"}
    assert b"Traceback" not in r.data
    assert calls == []
    with app.app_context():
        assert world.events("download:link:issued") == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DownloadLink)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(QuotaCounter)) == 0


@pytest.mark.parametrize("facts", ["cached", "not cached"])
def test_the_first_request_after_a_database_restart_is_answered(pg, facts: str) -> None:  # type: ignore[no-untyped-def]
    """Every pooled connection dies when PostgreSQL restarts (here: all of the
    database's backends are terminated and gone, as a restart does before it takes
    connections again). Not cached: the facts query wrote nothing, so it is retried
    once on a fresh connection instead of answering 503. Cached: the writing
    statement comes first, and is never retried, so a pooled connection the server
    has closed is swapped for a fresh one before it is sent."""
    app, world, person = pg
    client = app.test_client()
    ask = {"json": {"path": "config.json"}, "headers": person.auth}
    assert client.post("/api/v1/models/acme/llm/links", **ask).status_code == 201
    name = app.config["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
            " WHERE datname = %s",
            (name,),
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    if facts == "not cached":
        fastcache.clear()
    after = client.post("/api/v1/models/acme/llm/links", **ask)
    assert after.status_code == 201, after.json
    with app.app_context():
        assert len(world.events("download:link:issued")) == 2
