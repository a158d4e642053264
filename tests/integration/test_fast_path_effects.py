"""Every change to access takes effect on the very next fast-path request, whichever
process made it: after a link was issued, the change is made through the services,
and the first instance's next request is refused with its reason and recorded once.

Each change is made three ways: by a second instance of the app on the same
PostgreSQL with the first instance's cache of facts emptied (the fast path's own
query sees the change and refuses); by the first instance itself with its cache warm;
and by another process with the cache warm. With the cache warm the cached facts
still say yes: the writing statement finds the access version moved on (every
change to access moves it, migration 0019), writes nothing, and the full path
refuses."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from distserver import create_app
from distserver.access.services import accept_agreement
from distserver.accounts.services import principal_for
from distserver.app_runtime import current_runtime
from distserver.config import PROJECT_DIR
from distserver.downloads import fastcache, fastdb, fastpath
from distserver.extensions import db
from tests.support import access_changes
from tests.support.access_changes import CASES, TOKEN_CASES, join_partner_org
from tests.support.databases import TEST_SECRET
from tests.support.tiers import tiers_with
from tests.support.world import Person, World

ASK = {"path": "config.json"}


@pytest.fixture
def two(make_app, tmp_path: Path, monkeypatch) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """(app A, app B, world seeded through A, the outcomes A's fast path reported)."""
    app = make_app("postgres")
    other = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": app.config["DATABASE_URL"],
            "INSTANCE_DIR": str(tmp_path / "other"),
            "SECRET_KEY": TEST_SECRET,
            "STORAGE": "local",
            "TESTING": True,
        }
    )
    outcomes: list[tuple[str, str | None, bool]] = []
    real = fastpath.link_outcome

    def spy(door: str, decision: Any, *, fast: bool) -> None:
        outcomes.append((door, decision.reason, fast))
        real(door, decision, fast=fast)

    monkeypatch.setattr(fastpath, "link_outcome", spy)
    with app.app_context():
        world = World(app, tmp_path / "src")
        for ref, stage in (("acme/llm", "research-access"), ("acme/d", "research-access")):
            world.model(ref, stage=stage)
        world.model("acme/h", stage="research-access")
        world.model("acme/internal", stage=None)
        db.session.remove()
    yield app, other, world, outcomes
    for each in (app, other):
        fastdb.dispose(each)
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def link(app: Flask, person: Person, ref: str = "acme/llm") -> Any:
    return app.test_client().post(f"/api/v1/models/{ref}/links", json=ASK, headers=person.auth)


# Where the change is made, and whether the first instance's cache of facts is warm.
COLD = "another instance, cold cache"  # the fast path's own query sees the change
WARM_HERE = "this process, warm cache"  # the cached facts' version check sees it
WARM_ELSEWHERE = "another process, warm cache"
WHERE = (COLD, WARM_HERE, WARM_ELSEWHERE)


def change(where: str, app: Flask, other: Flask, case: str, email: str) -> None:
    """Make the change `case` (tests.support.access_changes) from `where`."""
    assert fastcache.size() > 0, "the first link left no facts in the cache"
    if where == WARM_ELSEWHERE:
        subprocess.run(
            [sys.executable, "-m", "tests.support.access_changes",
             app.config["DATABASE_URL"], str(Path(app.instance_path).parent / "elsewhere"),
             case, email],
            check=True, cwd=PROJECT_DIR, timeout=120,
        )  # fmt: skip
        return
    with (app if where == WARM_HERE else other).app_context():
        access_changes.make(case, email)
        db.session.remove()
    if where == COLD:
        fastcache.clear()


def _person(app: Flask, world: World, case: str) -> tuple[Person, str, int]:
    """A person for `case`, with their e-mail and user id."""
    with app.app_context():
        person = _seeded(world, case)
        return person, person.user.email, person.user.id


def _seeded(world: World, case: str) -> Person:
    email = f"{case.replace(' ', '-')}@example.org"
    if case == "role removal":
        return world.person(email, roles=("safety",))
    if case == "organisation agreement ending":
        person = world.person(email)
        join_partner_org(person.user)
        tier = current_runtime().tiers["vetted_partner"]
        accept_agreement(db.session, person.user, tier, principal_for(person.user, "t"))
        return person
    return world.person(email, tiers=("researcher",))


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("case", list(CASES))
def test_a_change_made_elsewhere_refuses_the_next_fast_path_request(  # type: ignore[no-untyped-def]
    two, case: str, where: str
) -> None:
    app, other, world, outcomes = two
    ref, status, reason = CASES[case]
    person, email, user_id = _person(app, world, case)
    first = link(app, person, ref)
    assert first.status_code == 201, first.json
    assert outcomes[-1] == ("api", None, True), "the first link did not take the fast path"
    change(where, app, other, case, email)
    refused = link(app, person, ref)
    assert (refused.status_code, refused.json["error"]["code"]) == (status, reason), refused.json
    if where == COLD:
        assert outcomes[-1] == ("api", reason, True)
    else:
        # The cached facts said yes; the writing statement found the version moved on,
        # wrote nothing, and the full path refused (its outcome is not the fast path's).
        assert outcomes[-1] == ("api", None, True), outcomes
    with app.app_context():
        events = [e for e in world.events("download:link:refused") if e.actor_id == user_id]
        assert [(e.reason, e.model) for e in events] == [(reason, ref)]
        issued = [e for e in world.events("download:link:issued") if e.actor_id == user_id]
        assert len(issued) == 1


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("case", list(TOKEN_CASES))
def test_a_token_change_made_elsewhere_refuses_the_next_request(two, case, where) -> None:  # type: ignore[no-untyped-def]
    app, other, world, _ = two
    person, email, user_id = _person(app, world, case)
    assert link(app, person).status_code == 201
    change(where, app, other, case, email)
    refused = link(app, person)
    assert (refused.status_code, refused.json["error"]["code"]) == TOKEN_CASES[case], refused.json
    with app.app_context():
        issued = [e for e in world.events("download:link:issued") if e.actor_id == user_id]
        assert len(issued) == 1


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_new_agreement_version_is_asked_for_at_once(make_app, tmp_path: Path, cache) -> None:  # type: ignore[no-untyped-def]
    """A process that loads tiers with a new version of the research-use agreement
    refuses a researcher who accepted only the old one, on its first request. The
    tiers are each process's own and are never cached with the facts: warm, the new
    instance finds the old instance's facts in this process's cache (nothing in the
    database changed, so they are current) and decides on them with its own tiers."""
    app = make_app("postgres")
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",))
        db.session.remove()
    assert link(app, person).status_code == 201
    tiers = tiers_with(tmp_path / "v2", {})
    text = (tiers / "researcher.toml").read_text().replace('version = "1"', 'version = "2"')
    (tiers / "researcher.toml").write_text(text)
    terms = tiers / "agreements" / "research-use.md"
    terms.write_text(terms.read_text() + "\nVersion 2 adds this sentence.\n")
    newer = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": app.config["DATABASE_URL"],
            "INSTANCE_DIR": str(tmp_path / "newer"),
            "SECRET_KEY": TEST_SECRET,
            "STORAGE": "local",
            "TESTING": True,
            "TIERS_DIR": str(tiers),
        }
    )
    if cache == "cold":
        fastcache.clear()
    else:
        assert fastcache.size() > 0, "the first link left no facts in the cache"
    try:
        refused = link(newer, person)
        assert refused.status_code == 403
        assert refused.json["error"]["code"] == ("agreement_required")
        assert "version 2" in refused.json["error"]["message"]
        with app.app_context():
            assert [e.reason for e in world.events("download:link:refused")] == [
                "agreement_required"
            ]
    finally:
        fastdb.dispose(newer)
        with newer.app_context():
            db.session.remove()
            db.engine.dispose()
