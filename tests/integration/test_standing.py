"""The one standing module (downloads/standing.py): a batch of models answers each model
as a batch of one does, per-model grants stay with their model, and a batch costs the
same statements whatever the number of models. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from distserver.access.models import Grant
from distserver.accounts.services import principal_for
from distserver.catalog.models import Model
from distserver.catalog.services import first_file, resolve_revision
from distserver.db import utcnow
from distserver.downloads.standing import Asked, catalog, model_access, standings
from distserver.extensions import db
from distserver.identity import Principal
from tests.support.world import World
from tests.web.support import counting

STAGES = {
    "acme/open": "general-availability",
    "acme/research": "research-access",
    "acme/partner": "partner-preview",
    "acme/partner-two": "partner-preview",
    "acme/secret": "internal",
}
Answer = tuple[bool, str | None]


def principals(world: World) -> dict[str, Principal]:
    models = {ref: world.model(ref, stage=stage) for ref, stage in STAGES.items()}
    rita = world.person("rita@example.org", tiers=("researcher",))
    # A per-model grant on one partner-preview model, and an expired one on the other.
    paula = world.person(
        "paula@example.org", tiers=("vetted_partner",), model=models["acme/partner"]
    )
    olga = world.person(
        "olga@example.org", tiers=("vetted_partner",), model=models["acme/partner-two"]
    )
    db.session.execute(
        update(Grant)
        .where(Grant.user_id == olga.user.id)
        .values(expires_at=utcnow() - timedelta(days=1))
    )
    sam = world.person("sam@example.org", roles=("safety",))
    db.session.commit()
    return {
        "anonymous": Principal(address="203.0.113.7"),
        "researcher": principal_for(rita.user, "test"),
        "partner": principal_for(paula.user, "test"),
        "expired partner": principal_for(olga.user, "test"),
        "safety": principal_for(sam.user, "test"),
    }


def every_model_in_one_batch(world: World, who: Principal, now: datetime) -> dict[str, Answer]:
    asked = []
    for model in db.session.scalars(select(Model).order_by(Model.id)):
        revision = resolve_revision(db.session, model, "main")
        first = first_file(db.session, revision) if revision else None
        asked.append(Asked(model, revision, first.path if first else None))
    found = standings(db.session, world.rt, who, asked, now)
    return {s.model.ref: (s.decision.allowed, s.decision.reason) for s in found}


def test_a_batch_answers_each_model_as_a_batch_of_one_does(world: World) -> None:
    now = utcnow()
    for name, who in principals(world).items():
        many = every_model_in_one_batch(world, who, now)
        one = {}
        for model in db.session.scalars(select(Model).order_by(Model.id)):
            decision = model_access(db.session, world.rt, who, model)
            one[model.ref] = (decision.allowed, decision.reason)
        assert many == one, name
        # The catalog: the same answers, for the models the principal may see.
        listed = catalog(db.session, world.rt, who, now)
        shown = {s.model.ref: (s.decision.allowed, s.decision.reason) for s in listed}
        assert shown == {ref: a for ref, a in one.items() if a != (False, "not_found")}, name


def test_a_per_model_grant_answers_for_its_own_model_only(world: World) -> None:
    who = principals(world)
    partner = every_model_in_one_batch(world, who["partner"], utcnow())
    assert partner["acme/partner"] == (True, None)
    assert partner["acme/partner-two"] == (False, "no_grant")
    expired = every_model_in_one_batch(world, who["expired partner"], utcnow())
    assert expired["acme/partner-two"] == (False, "grant_expired")
    assert expired["acme/partner"] == (False, "no_grant")
    assert every_model_in_one_batch(world, who["safety"], utcnow())["acme/secret"] == (True, None)


def test_the_catalog_costs_the_same_statements_for_five_models_as_for_seven(
    world: World,
) -> None:
    who = principals(world)

    def statements(principal: Principal) -> int:
        db.session.remove()  # nothing from before in the identity map
        with counting() as seen:
            catalog(db.session, world.rt, principal, utcnow())
        return len(seen)

    before = {name: statements(p) for name, p in who.items()}
    for i in range(2):
        world.model(f"acme/more-{i}", stage="research-access")
    after = {name: statements(p) for name, p in who.items()}
    assert after == before
    print(f"\ncatalog statements by principal: {after}")
    assert max(after.values()) <= 5, after
