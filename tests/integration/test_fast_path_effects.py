"""Every change to access takes effect on the very next fast-path request, whichever
app instance made it: after a link was issued, a second instance of the app on the
same PostgreSQL (its own pools, its own runtime) changes one thing through the
services, and the first instance's next request is refused with its reason; a
refusal the policy makes is recorded as its event. The fast path keeps no facts
between requests, so nothing in one instance can outlive a change made by another."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from distserver import create_app
from distserver.access.organizations import add_member, create_org, sign_agreement
from distserver.access.services import accept_agreement, revoke_grants
from distserver.accounts.admin import change_role, suspend_user
from distserver.accounts.models import ApiToken, User
from distserver.accounts.services import principal_for, revoke_token
from distserver.app_runtime import current_runtime
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.downloads import fastdb, fastpath
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases.services import demote, halt
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


def in_other(other: Flask, change: Callable[[], None]) -> None:
    with other.app_context():
        change()
        db.session.remove()


def user(email: str) -> User:
    found = db.session.scalar(db.select(User).where(User.email == email))
    assert found is not None
    return found


def model(ref: str) -> Model:
    ns, name = ref.split("/")
    found = db.session.scalar(db.select(Model).where(Model.namespace == ns, Model.name == name))
    assert found is not None
    return found


CASES: dict[str, tuple[str, int, str]] = {
    # name: (model, status, reason)
    "halt": ("acme/h", 403, "halted"),
    "demote": ("acme/d", 403, "stage_closed"),
    "grant revoke": ("acme/llm", 403, "no_grant"),
    "role removal": ("acme/internal", 404, "not_found"),
    "organisation agreement ending": ("acme/llm", 403, "no_grant"),
}


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
        tier = current_runtime().tiers["vetted_partner"]
        org = create_org(db.session, "partner-co", "Partner Co", tier, SYSTEM)
        sign_agreement(
            db.session, org, tier, signed_by="CEO", actor=SYSTEM,
            expires_at=utcnow() + timedelta(days=30),
        )  # fmt: skip
        add_member(db.session, org, person.user, SYSTEM)
        accept_agreement(db.session, person.user, tier, principal_for(person.user, "t"))
        return person
    return world.person(email, tiers=("researcher",))


def _change(case: str, email: str) -> Callable[[], None]:
    def run() -> None:
        rt = current_runtime()
        if case == "halt":
            halt(db.session, model("acme/h"), "test", SYSTEM)
        elif case == "demote":
            demote(db.session, model("acme/d"), rt.plans, SYSTEM)
        elif case == "grant revoke":
            revoke_grants(db.session, user(email), rt.tiers["researcher"], None, actor=SYSTEM)
        elif case == "role removal":
            change_role(db.session, user(email), "safety", add=False, actor=SYSTEM)
        elif case == "organisation agreement ending":
            from distserver.access.models import OrgAgreement

            db.session.execute(db.update(OrgAgreement).values(expires_at=utcnow()))
            db.session.commit()

    return run


@pytest.mark.parametrize("case", list(CASES))
def test_a_change_made_elsewhere_refuses_the_next_fast_path_request(two, case: str) -> None:  # type: ignore[no-untyped-def]
    app, other, world, outcomes = two
    ref, status, reason = CASES[case]
    person, email, user_id = _person(app, world, case)
    first = link(app, person, ref)
    assert first.status_code == 201, first.json
    assert outcomes[-1] == ("api", None, True), "the first link did not take the fast path"
    in_other(other, _change(case, email))
    refused = link(app, person, ref)
    assert (refused.status_code, refused.json["error"]["code"]) == (status, reason), refused.json
    assert outcomes[-1] == ("api", reason, True)
    with app.app_context():
        events = [e for e in world.events("download:link:refused") if e.actor_id == user_id]
        assert [(e.reason, e.model) for e in events] == [(reason, ref)]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [("token revoke", 401, "invalid_token"), ("token expiry", 401, "token_expired"),
     ("suspension", 403, "suspended")],
)  # fmt: skip
def test_a_token_change_made_elsewhere_refuses_the_next_request(two, case, status, code) -> None:  # type: ignore[no-untyped-def]
    app, other, world, _ = two
    person, email, _ = _person(app, world, case)
    assert link(app, person).status_code == 201

    def change() -> None:
        who = user(email)
        if case == "token revoke":
            token = db.session.scalar(db.select(ApiToken).where(ApiToken.user_id == who.id))
            assert token is not None
            revoke_token(db.session, who, token.id, principal_for(who, "t"))
        elif case == "token expiry":
            db.session.execute(
                db.update(ApiToken)
                .where(ApiToken.user_id == who.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            db.session.commit()
        else:
            suspend_user(db.session, who, SYSTEM)

    in_other(other, change)
    refused = link(app, person)
    assert (refused.status_code, refused.json["error"]["code"]) == (status, code), refused.json


def test_a_new_agreement_version_is_asked_for_at_once(make_app, tmp_path: Path) -> None:
    """A process that loads tiers with a new version of the research-use agreement
    refuses a researcher who accepted only the old one, on its first request."""
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
