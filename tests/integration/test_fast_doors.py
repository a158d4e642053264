"""The fast doors (distserver/fastdoors.py) on the real PostgreSQL: a token request for a
link answered in front of Flask gets the view's very answer (status, body fields,
headers), its request id in its event, its metric; everything the door does not take
(a refusal, a bad body, a declined request) is answered by Flask exactly once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from distserver.downloads import fastdb
from distserver.extensions import db
from distserver.fastdoors import FastDoors
from distserver.observability.metrics import EXTENSION_KEY
from tests.support.world import World

pytestmark = [pytest.mark.postgres]

LINKS = "/api/v1/models/acme/llm/links"
RESOLVE = "/acme/llm/resolve/main/config.json"
# What differs between two answers to the same request; and Vary, which Flask adds
# ("Cookie") when anything in the request looked at the session: the fast door's
# answer never depends on a cookie.
VARYING_HEADERS = {"X-Request-ID", "Location", "Content-Length", "Vary"}
VARYING_FIELDS = {"url", "link_id", "dl_url", "expires_at"}


@pytest.fixture
def pg(make_app, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = make_app("postgres")
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",))
        stranger = world.person("s@example.org")
        db.session.remove()
    yield app, world, person, stranger
    fastdb.dispose(app)


def _doors(app: Any) -> FastDoors:
    doors = app.wsgi_app
    assert isinstance(doors, FastDoors), "the fast doors are not in front of the app"
    return doors


def _flask_only(app: Any) -> Client:
    """A client of the Flask app behind the fast doors (the views answer everything)."""
    return Client(_doors(app).next)


def _headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in VARYING_HEADERS}


def test_the_fast_door_answers_a_link_as_the_view_does(pg) -> None:  # type: ignore[no-untyped-def]
    app, world, person, _ = pg
    ask = {"json": {"path": "config.json"}, "headers": person.auth}
    fast = app.test_client().post(LINKS, **ask)
    view = _flask_only(app).post(LINKS, **ask)
    assert fast.status_code == view.status_code == 201
    assert _headers(fast) == _headers(view)
    assert fast.headers["Content-Type"] == "application/json"
    assert int(fast.headers["Content-Length"]) == len(fast.data)
    assert fast.data.endswith(b"\n")
    fast_body, view_body = json.loads(fast.data), json.loads(view.data)
    assert list(fast_body) == list(view_body)  # the same key order (sorted)
    for key in set(fast_body) - VARYING_FIELDS:
        assert fast_body[key] == view_body[key], key
    with app.app_context():
        assert len(world.events("download:link:issued")) == 2


def test_the_fast_door_answers_a_resolve_as_the_view_does(pg) -> None:  # type: ignore[no-untyped-def]
    app, _, person, _ = pg
    fast = app.test_client().get(RESOLVE, headers=person.auth)
    view = _flask_only(app).get(RESOLVE, headers=person.auth)
    assert fast.status_code == view.status_code == 302
    assert _headers(fast) == _headers(view)
    # Each link carries its own id in its signed token (local storage) or query (S3):
    # the two URLs differ there only, and serve the same bytes.
    fast_url, view_url = fast.headers["Location"], view.headers["Location"]
    assert fast_url.split("?")[0].rsplit("/", 1)[0] == view_url.split("?")[0].rsplit("/", 1)[0]
    client = app.test_client()
    assert client.get(fast_url).data == client.get(view_url).data != b""
    assert fast.data == view.data == b""


def test_the_event_records_the_request_id_the_answer_names(pg) -> None:  # type: ignore[no-untyped-def]
    app, world, person, _ = pg
    client = app.test_client()
    given = client.post(
        LINKS,
        json={"path": "config.json"},
        headers={**person.auth, "X-Request-ID": "bench-request-0001"},
    )
    made = client.post(LINKS, json={"path": "config.json"}, headers=person.auth)
    assert given.headers["X-Request-ID"] == "bench-request-0001"
    with app.app_context():
        ids = [json.loads(e.data)["request_id"] for e in world.events("download:link:issued")]
    assert ids == ["bench-request-0001", made.headers["X-Request-ID"]]


def test_a_fast_door_answer_is_counted_in_the_request_metric(pg) -> None:  # type: ignore[no-untyped-def]
    app, _, person, _ = pg
    client = app.test_client()
    assert client.post(LINKS, json={"path": "config.json"}, headers=person.auth).status_code == 201
    registry = app.extensions[EXTENSION_KEY].registry
    count = registry.get_sample_value(
        "distserver_http_request_duration_seconds_count",
        {"route": "/api/v1/models/<namespace>/<name>/links", "method": "POST", "status": "201"},
    )
    assert count == 1
    issued = registry.get_sample_value(
        "distserver_links_total", {"door": "api", "outcome": "issued", "reason": ""}
    )
    assert issued == 1


def test_a_refusal_is_recorded_once_and_answered_in_each_doors_shape(pg) -> None:  # type: ignore[no-untyped-def]
    app, world, _, stranger = pg
    client = app.test_client()
    api = client.post(
        LINKS,
        json={"path": "config.json"},
        headers={**stranger.auth, "X-Request-ID": "refused-request-01"},
    )
    assert api.status_code == 403
    assert api.json["error"]["code"] == "no_grant"
    assert api.headers["X-Request-ID"] == "refused-request-01"
    hf = client.get(RESOLVE, headers=stranger.auth)
    assert hf.status_code == 403
    assert hf.headers["X-Error-Code"] == "GatedRepo"
    assert "error" in hf.json
    with app.app_context():
        refused = world.events("download:link:refused")
    assert len(refused) == 2
    assert json.loads(refused[0].data)["request_id"] == "refused-request-01"
    assert json.loads(refused[1].data)["request_id"] == hf.headers["X-Request-ID"]


def test_a_missing_file_names_its_commit_at_the_hugging_face_door(pg) -> None:  # type: ignore[no-untyped-def]
    app, world, person, _ = pg
    r = app.test_client().get("/acme/llm/resolve/main/nope.bin", headers=person.auth)
    assert r.status_code == 404
    assert r.headers["X-Error-Code"] == "EntryNotFound"
    with app.app_context():
        assert r.headers["X-Repo-Commit"] == world.events("download:link:refused")[0].revision


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[]", "invalid_json"),
        (b'{"path": 3}', "invalid_field"),
        (b'{"path": "../etc/passwd"}', "invalid_path"),
        (b'{"path": "config.json", "revision": 7}', "invalid_field"),
    ],
)
def test_a_body_the_view_refuses_is_refused_by_the_view(pg, body: bytes, code: str) -> None:  # type: ignore[no-untyped-def]
    app, world, person, _ = pg
    r = app.test_client().post(
        LINKS, data=body, headers={**person.auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.data
    assert r.json["error"]["code"] == code
    with app.app_context():
        assert world.events("download:link:issued") == []
        assert world.events("download:link:refused") == []


def test_a_request_the_fast_path_declines_is_served_once_by_the_full_path(pg) -> None:  # type: ignore[no-untyped-def]
    app, world, person, _ = pg
    # A branch name other than main: the fast path hands it to the full path.
    r = app.test_client().post(
        LINKS, json={"path": "config.json", "revision": "dev"}, headers=person.auth
    )
    assert r.status_code == 404
    with app.app_context():
        assert len(world.events("download:link:refused")) == 1
