"""The access version the fast path's cached facts are checked against (migration
0019, downloads.fastcache): every committed change to what the policy reads moves it
on, whichever service made it; the fast path's own writes (a link, its count and
event, a refusal, the token's last use) leave it where it was, or no cache would
ever stay warm; and a change that opens access is honoured with the cache warm too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from distserver.access.services import accept_agreement, add_grant, revoke_grants
from distserver.accounts.admin import change_role, suspend_user
from distserver.accounts.models import ApiToken
from distserver.accounts.services import create_token, create_user, principal_for, revoke_token
from distserver.app_runtime import current_runtime
from distserver.db import utcnow
from distserver.downloads import fastcache, fastdb
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases.services import demote, halt, resume
from tests.support.access_changes import join_partner_org, model, user
from tests.support.world import World

ASK = {"path": "config.json"}


@pytest.fixture
def pg(make_app, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = make_app("postgres")
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        db.session.remove()
    yield app, world
    fastdb.dispose(app)


def version() -> int:
    return int(db.session.scalar(sa.text("SELECT version FROM access_version WHERE id = 1")))


def _org_agreement(email: str) -> None:
    join_partner_org(user(email))


def _token_expiry(email: str) -> None:
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.user_id == user(email).id)
        .values(expires_at=utcnow() + timedelta(days=1))
    )
    db.session.commit()


def _token_revoke(email: str) -> None:
    who = user(email)
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == who.id))
    assert token is not None
    revoke_token(db.session, who, token.id, principal_for(who, "t"))


CHANGES: dict[str, Callable[[str, Any], object]] = {
    "grant": lambda email, rt: add_grant(
        db.session, user(email), rt.tiers["researcher"], None, days=None, actor=SYSTEM
    ),
    "grant revoke": lambda email, rt: revoke_grants(
        db.session, user(email), rt.tiers["researcher"], None, actor=SYSTEM
    ),
    "acceptance": lambda email, rt: accept_agreement(
        db.session, user(email), rt.tiers["researcher"], principal_for(user(email), "t")
    ),
    "role change": lambda email, rt: change_role(
        db.session, user(email), "safety", add=True, actor=SYSTEM
    ),
    "suspension": lambda email, rt: suspend_user(db.session, user(email), SYSTEM),
    "new token": lambda email, rt: create_token(db.session, user(email), name="second"),
    "token expiry": lambda email, rt: _token_expiry(email),
    "token revoke": lambda email, rt: _token_revoke(email),
    "membership and organisation agreement": lambda email, rt: _org_agreement(email),
    "stage change": lambda email, rt: demote(db.session, model("acme/llm"), rt.plans, SYSTEM),
    "halt": lambda email, rt: halt(db.session, model("acme/llm"), "test", SYSTEM),
    "resume": lambda email, rt: resume(db.session, model("acme/llm"), SYSTEM),
    "new user": lambda email, rt: create_user(db.session, "n@example.org", email_verified=True),
}


def test_every_change_to_access_moves_the_version_on(pg) -> None:  # type: ignore[no-untyped-def]
    app, world = pg
    with app.app_context():
        person = world.person("p@example.org")
        email, rt = person.user.email, current_runtime()
        for name, change in CHANGES.items():
            before = version()
            change(email, rt)
            db.session.remove()
            assert version() > before, f"{name} left the access version at {before}"
        before = version()
        world.publish(model("acme/llm"), {"config.json": b'{"hidden_size": 16}\n'})
        assert version() > before, "a new revision left the access version where it was"


def test_a_transaction_of_many_changes_moves_the_version_once(pg) -> None:  # type: ignore[no-untyped-def]
    app, _ = pg
    with app.app_context():
        before = version()
        for n in range(5):
            db.session.execute(
                sa.text("INSERT INTO users (email, display_name, created_at, session_version)"
                        " VALUES (:e, '', now(), 1)"),
                {"e": f"u{n}@example.org"},
            )  # fmt: skip
        db.session.commit()
        assert version() == before + 1


def test_the_fast_paths_own_writes_leave_the_version_where_it_was(pg) -> None:  # type: ignore[no-untyped-def]
    app, world = pg
    with app.app_context():
        person = world.person("r@example.org", tiers=("researcher",))
        stranger = world.person("s@example.org")
        before = version()
        db.session.remove()
    client = app.test_client()
    for _ in range(3):  # issued (counted, the token touched the first time) and refused
        fastcache.clear()
        assert (
            client.post("/api/v1/models/acme/llm/links", json=ASK, headers=person.auth).status_code
            == 201
        )
        assert (
            client.post(
                "/api/v1/models/acme/llm/links", json=ASK, headers=stranger.auth
            ).status_code
            == 403
        )
    with app.app_context():
        assert version() == before


def test_a_grant_given_elsewhere_opens_the_next_request_with_the_cache_warm(pg) -> None:  # type: ignore[no-untyped-def]
    app, world = pg
    with app.app_context():
        person = world.person("s@example.org")
        db.session.remove()
    client = app.test_client()
    for _ in range(2):  # the second refusal comes from the cached facts
        refused = client.post("/api/v1/models/acme/llm/links", json=ASK, headers=person.auth)
        assert refused.json["error"]["code"] == "no_grant"
    assert fastcache.size() > 0
    with app.app_context():
        rt = current_runtime()
        CHANGES["grant"]("s@example.org", rt)
        CHANGES["acceptance"]("s@example.org", rt)
        db.session.remove()
    allowed = client.post("/api/v1/models/acme/llm/links", json=ASK, headers=person.auth)
    assert allowed.status_code == 201, allowed.json


def test_a_new_revision_is_served_at_once_with_the_cache_warm(pg) -> None:  # type: ignore[no-untyped-def]
    app, world = pg
    with app.app_context():
        person = world.person("r@example.org", tiers=("researcher",))
        db.session.remove()
    client = app.test_client()
    first = client.post("/api/v1/models/acme/llm/links", json=ASK, headers=person.auth)
    assert first.status_code == 201
    assert fastcache.size() > 0
    with app.app_context():
        commit = world.publish(model("acme/llm"), {"config.json": b'{"hidden_size": 16}\n'})
        db.session.remove()
    after = client.post("/api/v1/models/acme/llm/links", json=ASK, headers=person.auth)
    assert after.status_code == 201, after.json
    assert after.json["revision"] == commit != first.json["revision"]
