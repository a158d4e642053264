"""Done when 2: separation of duties and m-of-n. The publisher's sign-off and an
evaluator's do not count, one person counts once, only safety staff record evidence,
and a new revision does not inherit the evidence of the one before (per_revision)."""

from __future__ import annotations

import pytest

from distserver.accounts.services import principal_for
from distserver.errors import Conflict, Forbidden
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases import services
from tests.releases.support import publish_as
from tests.support.world import DEFAULT_FILES, World


def signoff_line(world: World, model) -> str:  # type: ignore[no-untyped-def]
    status = services.gate_status(db.session, model, world.rt.plans)
    return next(r.text for r in status.requirements if r.key == "signoffs")


def test_publisher_evaluator_and_repeat_signoffs_do_not_count(world: World) -> None:
    plans = world.rt.plans
    model = world.model("acme/duties", stage=None, files={"a.txt": b"one"})
    publisher = world.person("pub@example.org", roles=("safety",))
    publish_as(world, model, publisher, DEFAULT_FILES)  # the main revision is now theirs
    pub = principal_for(publisher.user, "test")
    ev = principal_for(world.person("eve@example.org", roles=("safety",)).user, "test")
    s1 = principal_for(world.person("s1@example.org", roles=("safety",)).user, "test")
    s2 = principal_for(world.person("s2@example.org", roles=("safety",)).user, "test")
    admin = principal_for(world.person("adm@example.org", roles=("admin",)).user, "test")
    services.evaluate(db.session, model, plans, "red-team", "pass", "RT-1", ev)
    services.evaluate(db.session, model, plans, "dangerous-capabilities", "pass", "DC-1", ev)

    with pytest.raises(Forbidden) as info:
        services.signoff(db.session, model, plans, pub)
    assert info.value.code == "separation_of_duties"
    with pytest.raises(Forbidden) as info:
        services.signoff(db.session, model, plans, ev)
    assert info.value.code == "separation_of_duties"
    with pytest.raises(Forbidden):
        services.signoff(db.session, model, plans, admin)  # admin is not safety staff
    with pytest.raises(Forbidden):
        services.signoff(db.session, model, plans, SYSTEM)  # a person must sign

    services.signoff(db.session, model, plans, s1, "looked at the red-team report")
    with pytest.raises(Conflict) as dup:
        services.signoff(db.session, model, plans, s1)
    assert dup.value.code == "already_signed_off"
    assert signoff_line(world, model) == "sign-offs from safety staff: 1 of 2 (s1@example.org)"

    # A signer who then records an evaluation for the same gate stops counting.
    services.evaluate(db.session, model, plans, "red-team", "pass", "RT-2", s1)
    assert signoff_line(world, model) == "sign-offs from safety staff: 0 of 2"
    with pytest.raises(services.GateUnmet):
        services.promote(db.session, model, plans, admin)

    s3 = principal_for(world.person("s3@example.org", roles=("safety",)).user, "test")
    services.signoff(db.session, model, plans, s2)
    services.signoff(db.session, model, plans, s3)
    assert signoff_line(world, model).startswith("sign-offs from safety staff: 2 of 2")
    services.promote(db.session, model, plans, admin)
    assert services.gate_status(db.session, model, plans).stage == "partner-preview"


def test_only_safety_records_evidence_and_only_staff_move_stages(world: World) -> None:
    plans = world.rt.plans
    model = world.model("acme/roles", stage=None)
    for i, roles in enumerate(((), ("admin",), ("reviewer",), ("auditor",))):
        who = principal_for(world.person(f"x{i}@example.org", roles=roles).user, "test")
        with pytest.raises(Forbidden):
            services.evaluate(db.session, model, plans, "red-team", "pass", "R", who)
    nobody = principal_for(world.person("r@example.org", roles=("reviewer",)).user, "test")
    for action in (
        lambda: services.promote(db.session, model, plans, nobody),
        lambda: services.promote(db.session, model, plans, SYSTEM),
        lambda: services.halt(db.session, model, "why", nobody),
        lambda: services.demote(db.session, model, plans, nobody),
    ):
        with pytest.raises(Forbidden):
            action()


def test_a_new_revision_needs_its_own_evidence(world: World) -> None:
    plans = world.rt.plans
    model = world.model("acme/revs", stage=None)
    ev = principal_for(world.person("eve@example.org", roles=("safety",)).user, "test")
    s1 = principal_for(world.person("s1@example.org", roles=("safety",)).user, "test")
    services.evaluate(db.session, model, plans, "red-team", "pass", "RT-1", ev)
    services.signoff(db.session, model, plans, s1)
    before = services.gate_status(db.session, model, plans)
    assert [r.met for r in before.requirements] == [True, False, False]
    new_commit = world.publish(model, {"model.safetensors": b"retrained"})
    after = services.gate_status(db.session, model, plans)
    assert after.revision == new_commit != before.revision
    assert after.unmet == [
        "evaluation red-team: no result",
        "evaluation dangerous-capabilities: no result",
        "sign-offs from safety staff: 0 of 2",
    ]
