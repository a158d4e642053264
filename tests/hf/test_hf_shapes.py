"""The door's shapes and headers through the Flask test client, on SQLite and
PostgreSQL: model info, tree pages, resolve headers, refusal headers, and how a
HEAD is counted on each backend."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient

from distserver.catalog.services import find_model, main_revision
from distserver.extensions import db
from distserver.hf import views
from distserver.hf.serializers import card_data, lfs_pointer
from tests.support.s3fixtures import s3_settings
from tests.support.world import DEFAULT_FILES, World, sha256

MODEL = "model.safetensors"


def test_model_info_has_the_hub_fields(client: FlaskClient, world: World) -> None:
    model = world.model("acme/llm", stage="general-availability")
    model.card = "---\nlicense: apache-2.0\ntags:\n- llm\n---\n# acme/llm\n"
    db.session.commit()
    commit = main_revision(db.session, model).commit
    for url in ("/api/models/acme/llm", f"/api/models/acme/llm/revision/{commit}"):
        info = client.get(url).json
        assert info["id"] == info["modelId"] == "acme/llm"
        assert info["sha"] == commit
        assert info["private"] is False
        assert info["gated"] is False
        assert sorted(s["rfilename"] for s in info["siblings"]) == sorted(DEFAULT_FILES)
        assert info["lastModified"].endswith("Z")
        assert info["tags"] == []
        assert info["cardData"] == {"license": "apache-2.0", "tags": ["llm"]}
    world.model("acme/gated", stage="research-access")
    assert client.get("/api/models/acme/gated").json["gated"] == "manual"


def test_model_info_id_is_opaque_not_a_sequential_database_id(
    client: FlaskClient, world: World
) -> None:
    """`_id` must not let an anonymous caller count models (hidden ones included)."""
    first = world.model("acme/first", stage="general-availability")
    world.model("acme/hidden", stage="internal")  # in between: invisible to this caller
    third = world.model("acme/third", stage="general-availability")
    ids = [client.get(f"/api/models/{ref}").json["_id"] for ref in ("acme/first", "acme/third")]
    for opaque, model in zip(ids, (first, third), strict=True):
        assert re.fullmatch(r"[0-9a-f]{24}", opaque), opaque  # the Hub's own shape
        assert int(opaque, 16) != model.id
        assert opaque.lstrip("0") != str(model.id)
    assert ids[0] != ids[1]
    assert client.get("/api/models/acme/first").json["_id"] == ids[0]  # stable
    assert client.get("/api/models/acme/first/revision/main").json["_id"] == ids[0]


def test_tree_lists_lfs_entries_and_pages_with_link_headers(
    client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.model("acme/llm", stage="general-availability")
    flat = client.get("/api/models/acme/llm/tree/main").json
    assert [(e["type"], e["path"]) for e in flat] == [
        ("file", "config.json"),
        ("file", MODEL),
        ("directory", "sub"),
    ]
    weights = flat[1]
    data = DEFAULT_FILES[MODEL]
    assert weights["size"] == len(data)
    assert len(weights["oid"]) == 40
    assert weights["lfs"] == {
        "oid": sha256(data),
        "size": len(data),
        "pointerSize": len(lfs_pointer(sha256(data), len(data))),
    }
    sub = client.get("/api/models/acme/llm/tree/main/sub").json
    assert [e["path"] for e in sub] == ["sub/tokenizer.json"]
    assert client.get("/api/models/acme/llm/tree/main/nope").headers["X-Error-Code"] == (
        "EntryNotFound"
    )
    monkeypatch.setattr(views, "TREE_PAGE_SIZE", 2)
    seen: list[str] = []
    url = "/api/models/acme/llm/tree/main?recursive=true&expand=false"
    while url:
        r = client.get(url)
        seen += [e["path"] for e in r.json]
        link = r.headers.get("Link")
        url = link[link.index("<") + 1 : link.index(">")] if link else ""
        assert not link or link.endswith('rel="next"')
    assert seen == ["config.json", MODEL, "sub", "sub/tokenizer.json"]


def test_resolve_redirects_with_the_hub_headers(client: FlaskClient, world: World) -> None:
    model = world.model("acme/llm", stage="general-availability")
    commit = main_revision(db.session, model).commit
    r = client.get(f"/acme/llm/resolve/main/{MODEL}")
    assert r.status_code == 302
    digest = sha256(DEFAULT_FILES[MODEL])
    assert r.headers["X-Repo-Commit"] == commit
    assert r.headers["X-Linked-Etag"] == r.headers["ETag"] == f'"{digest}"'
    assert r.headers["X-Linked-Size"] == str(len(DEFAULT_FILES[MODEL]))
    served = client.get(urlsplit(r.headers["Location"]).path)
    assert sha256(served.data) == digest
    [event] = world.events("download:link:issued")
    assert json.loads(event.data)["door"] == "hf"
    assert event.path == MODEL


def test_local_head_reads_metadata_and_issues_nothing(client: FlaskClient, world: World) -> None:
    world.model("acme/llm", stage="general-availability")
    r = client.head(f"/acme/llm/resolve/main/{MODEL}")
    assert r.status_code == 200
    assert "Location" not in r.headers
    assert r.headers["X-Linked-Etag"] == f'"{sha256(DEFAULT_FILES[MODEL])}"'
    assert world.events("download:link:issued") == []


def refusal(r: Any) -> tuple[int, str | None, str | None, Any]:
    return r.status_code, r.headers.get("X-Error-Code"), r.headers.get("X-Error-Message"), r.json


def test_refusals_carry_the_hub_error_headers(client: FlaskClient, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    world.model("acme/hidden", stage=None)
    bob = world.person("bob@example.org")
    native = client.post("/api/v1/models/acme/llm/links", json={"path": MODEL}, headers=bob.auth)
    for method in (client.get, client.head):
        anon = method(f"/acme/llm/resolve/main/{MODEL}")
        assert (anon.status_code, anon.headers["X-Error-Code"]) == (401, "GatedRepo")
        r = method(f"/acme/llm/resolve/main/{MODEL}", headers=bob.auth)
        assert (r.status_code, r.headers["X-Error-Code"]) == (403, "GatedRepo")
        assert r.headers["X-Error-Message"] == native.json["error"]["message"]
    tree = client.get("/api/models/acme/llm/tree/main", headers=bob.auth)
    assert (tree.status_code, tree.headers["X-Error-Code"]) == (403, "GatedRepo")
    hidden = client.get(f"/acme/hidden/resolve/main/{MODEL}", headers=bob.auth)
    ghost = client.get(f"/acme/ghost/resolve/main/{MODEL}", headers=bob.auth)
    assert (
        refusal(hidden)
        == refusal(ghost)
        == (
            404,
            "RepoNotFound",
            "No such model.",
            {"error": "No such model."},
        )
    )
    assert refusal(client.get("/api/models/acme/hidden")) == refusal(
        client.get("/api/models/acme/ghost")
    )
    r = client.get(f"/acme/llm/resolve/{'0' * 40}/{MODEL}", headers=bob.auth)
    assert (r.status_code, r.headers["X-Error-Code"]) == (404, "RevisionNotFound")
    r = client.get("/acme/llm/resolve/main/nope.bin")
    assert (r.status_code, r.headers["X-Error-Code"]) == (404, "EntryNotFound")
    llm = find_model(db.session, "acme", "llm")
    assert llm is not None
    assert r.headers["X-Repo-Commit"] == main_revision(db.session, llm).commit
    bad = client.get(f"/acme/llm/resolve/main/{MODEL}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "X-Error-Code" not in bad.headers
    assert world.events("download:link:issued") == []


def test_s3_head_is_the_one_counted_request(make_app: Any, s3_env: Any, tmp_path: Any) -> None:
    app = make_app("sqlite", **s3_settings(s3_env))
    with app.app_context():
        world = World(app, tmp_path / "sources")
        world.model("acme/llm", stage="general-availability")
        r = app.test_client().head(f"/acme/llm/resolve/main/{MODEL}")
        assert r.status_code == 302
        assert r.headers["Location"].startswith(s3_env.endpoint_url)
        assert r.headers["X-Linked-Etag"] == f'"{sha256(DEFAULT_FILES[MODEL])}"'
        assert [e.path for e in world.events("download:link:issued")] == [MODEL]


def test_card_data_reads_flat_front_matter() -> None:
    assert card_data("# no front matter") == {}
    assert card_data("---\nlicense: mit\nlanguage:\n- en\n- fr\n---\ntext") == {
        "license": "mit",
        "language": ["en", "fr"],
    }
