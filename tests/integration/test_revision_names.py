"""Revisions by tag, branch and short commit id (issue 16): how the one resolver
reads a revision name, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from distserver.catalog.services import main_revision, resolve_revision
from distserver.catalog.tags import tag_revision
from distserver.errors import BadRequest, Conflict
from distserver.extensions import db
from distserver.identity import SYSTEM
from tests.support.world import World


def test_a_revision_is_found_by_main_commit_tag_and_unique_prefix(world: World) -> None:
    model = world.model("acme/llm")
    first = main_revision(db.session, model)
    assert first is not None
    second = world.publish(model, {"config.json": b"{}\n"})
    tag_revision(db.session, model, first, "v1.0", SYSTEM)
    find = lambda rev: r.commit if (r := resolve_revision(db.session, model, rev)) else None  # noqa: E731
    assert find("main") == find(None) == second
    assert find(first.commit) == first.commit
    assert find("v1.0") == first.commit
    assert find(first.commit[:7]) == first.commit
    assert find(second[:12]) == second
    assert find("v2.0") is None
    assert find("../etc") is None
    (event,) = world.events("catalog:revision:tagged")
    assert (event.revision, json.loads(event.data)) == (first.commit, {"tag": "v1.0"})


def test_tags_are_never_moved_and_never_read_as_commits(world: World) -> None:
    model = world.model("acme/llm")
    revision = main_revision(db.session, model)
    assert revision is not None
    tag_revision(db.session, model, revision, "v1.0", SYSTEM)
    with pytest.raises(Conflict, match="never moved"):
        tag_revision(db.session, model, revision, "v1.0", SYSTEM)
    for name in ("abc1234", "main", "-x", "a/b", "x" * 65):
        with pytest.raises(BadRequest):
            tag_revision(db.session, model, revision, name, SYSTEM)
