"""Done when 1: the default plan walked from internal to general-availability. At each
stage every tier's user gets exactly the decision the plan says (the table is printed),
and every premature promotion is refused listing all of its unmet requirements."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from flask.testing import FlaskClient

from distserver.accounts.services import principal_for
from distserver.db import utcnow
from distserver.extensions import db
from distserver.releases import services
from distserver.releases.services import GateUnmet
from tests.releases.support import decisions, expected, print_table, table_people
from tests.support.world import World


def refused(model, plans, actor) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(GateUnmet) as info:
        services.promote(db.session, model, plans, actor)
    assert info.value.code == "gate_unmet"
    assert info.value.status == 409
    for line in info.value.unmet:
        assert line in info.value.message  # the sentence lists every one too
    return info.value.unmet


def test_walk_the_default_plan(client: FlaskClient, world: World) -> None:
    plans = world.rt.plans
    plan = plans["default"]
    model = world.model("acme/walk", stage=None)
    people = table_people(world)
    lead = principal_for(world.person("lead@example.org", roles=("admin",)).user, "test")
    ev = principal_for(world.person("eve@example.org", roles=("safety",)).user, "test")
    signers = [
        principal_for(world.person(f"s{i}@example.org", roles=("safety",)).user, "test")
        for i in range(3)
    ]
    rows: list[tuple[str, dict[str, str]]] = []

    def check_stage(stage: str) -> None:
        assert services.gate_status(db.session, model, plans).stage == stage
        got = decisions(client, model.ref, people)
        rows.append((stage, got))
        want = expected(plan, stage)
        for who, allowed in want.items():
            assert got[who].startswith("allowed") == allowed, (stage, who, got[who])
        if stage == "internal":
            # Invisible to everyone but staff: answered as a model that does not exist.
            assert set(got.values()) == {"not_found"}

    with time_machine.travel(utcnow(), tick=True) as clock:
        check_stage("internal")
        unmet = refused(model, plans, lead)
        assert unmet == [
            "evaluation red-team: no result",
            "evaluation dangerous-capabilities: no result",
            "sign-offs from safety staff: 0 of 2",
        ]
        services.evaluate(db.session, model, plans, "red-team", "pass", "RT-1", ev)
        services.evaluate(db.session, model, plans, "dangerous-capabilities", "fail", "DC-1", ev)
        services.signoff(db.session, model, plans, signers[0])
        unmet = refused(model, plans, lead)
        assert unmet == [
            "evaluation dangerous-capabilities: failed (DC-1)",
            "sign-offs from safety staff: 1 of 2 (s0@example.org)",
        ]
        services.evaluate(db.session, model, plans, "dangerous-capabilities", "pass", "DC-2", ev)
        services.signoff(db.session, model, plans, signers[1])
        services.promote(db.session, model, plans, lead)
        check_stage("partner-preview")

        unmet = refused(model, plans, signers[2])
        assert unmet[0] == "evaluation misuse-uplift: no result"
        assert unmet[1] == "sign-offs from safety staff: 0 of 2"
        assert unmet[2].startswith("14 days at partner-preview: less than an hour so far, until ")
        services.evaluate(db.session, model, plans, "misuse-uplift", "pass", "MU-1", ev)
        services.signoff(db.session, model, plans, signers[0])
        services.signoff(db.session, model, plans, signers[1])
        clock.shift(timedelta(days=13, hours=23))
        unmet = refused(model, plans, lead)
        assert len(unmet) == 1
        assert unmet[0].startswith("14 days at partner-preview: 13.9 days")
        clock.shift(timedelta(hours=1, seconds=1))
        services.promote(db.session, model, plans, lead)
        check_stage("research-access")

        unmet = refused(model, plans, lead)
        assert [u.split(":")[0] for u in unmet] == [
            "evaluation societal-impact",
            "sign-offs from safety staff",
            "30 days at research-access",
        ]
        services.evaluate(db.session, model, plans, "societal-impact", "pass", "SI-1", ev)
        for s in signers[:2]:
            services.signoff(db.session, model, plans, s)
        clock.shift(timedelta(days=30, seconds=1))
        assert refused(model, plans, lead) == [
            "sign-offs from safety staff: 2 of 3 (s0@example.org, s1@example.org)"
        ]
        services.signoff(db.session, model, plans, signers[2])
        services.promote(db.session, model, plans, lead)
        check_stage("general-availability")

    print_table(rows)
    assert services.gate_status(db.session, model, plans).next_stage is None
