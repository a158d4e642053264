"""Done when 3: a stage with an embargo opens at its `not_before` time once its gate
is met, and not a second earlier, both through `releases tick` and through an access
check (the first request after the embargo opens it, recording the transition)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask

from distserver.accounts.services import principal_for
from distserver.audit.tags import EventTag
from distserver.cli import main
from distserver.extensions import db
from distserver.releases import services
from tests.support.tiers import tiers_with
from tests.support.world import World

OPENS = datetime(2030, 1, 1, 9, 0, 0, tzinfo=UTC)
PLAN = """
name = "embargoed"
[[stages]]
name = "internal"
tiers = []
[[stages]]
name = "partner-preview"
tiers = ["vetted_partner"]
[stages.gate]
signoffs = 1
not_before = 2030-01-01T09:00:00Z
"""


@pytest.fixture
def embargo_app(make_app, db_backend: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    tiers = tiers_with(tmp_path, {})
    (tiers / "plans" / "embargoed.toml").write_text(PLAN)
    app = make_app(db_backend, TIERS_DIR=str(tiers))
    with app.app_context():
        yield app


def signed_off_model(world: World):  # type: ignore[no-untyped-def]
    plans = world.rt.plans
    model = world.model("acme/embargoed", plan="embargoed", stage=None)
    signer = world.person("s1@example.org", roles=("safety",))
    services.signoff(db.session, model, plans, principal_for(signer.user, "test"))
    status = services.gate_status(db.session, model, plans)
    assert status.unmet == ["embargo until 2030-01-01T09:00:00Z"]
    return model


def stage_of(world: World, model) -> str:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return services.release_state(db.session, model).stage


def test_tick_opens_at_the_embargo_time_not_a_second_earlier(
    embargo_app: Flask, tmp_path: Path
) -> None:
    world = World(embargo_app, tmp_path / "sources")
    cli = embargo_app.test_cli_runner()
    with time_machine.travel(OPENS - timedelta(days=1), tick=False) as clock:
        model = signed_off_model(world)
        clock.move_to(OPENS - timedelta(seconds=1))
        early = cli.invoke(main, ["releases", "tick"])
        assert early.exit_code == 0
        assert early.output == ""
        assert stage_of(world, model) == "internal"
        clock.move_to(OPENS)
        due = cli.invoke(main, ["releases", "tick"])
        assert due.exit_code == 0, due.output
        assert due.output == "opened acme/embargoed -> partner-preview\n"
        assert stage_of(world, model) == "partner-preview"
        again = cli.invoke(main, ["releases", "tick"])
        assert again.output == ""  # applied once
    opened = world.events(str(EventTag.STAGE_PROMOTED))[-1]
    assert opened.actor == "system"
    assert '"scheduled":true' in opened.data
    assert opened.occurred_at == OPENS


def test_an_access_check_opens_it_at_the_embargo_time(embargo_app: Flask, tmp_path: Path) -> None:
    world = World(embargo_app, tmp_path / "sources")
    client = embargo_app.test_client()
    with time_machine.travel(OPENS - timedelta(days=1), tick=False) as clock:
        model = signed_off_model(world)
        partner = world.person("vic@example.org", tiers=("vetted_partner",))
        link = {"path": "model.safetensors"}
        clock.move_to(OPENS - timedelta(seconds=1))
        early = client.post("/api/v1/models/acme/embargoed/links", json=link, headers=partner.auth)
        assert early.status_code == 404  # still internal: invisible to a partner
        listing = client.get("/api/v1/models", headers=partner.auth).json["models"]
        assert listing == []
        assert stage_of(world, model) == "internal"
        clock.move_to(OPENS)
        on_time = client.post(
            "/api/v1/models/acme/embargoed/links", json=link, headers=partner.auth
        )
        assert on_time.status_code == 201, on_time.json
        assert on_time.json["tier"] == "vetted_partner"
        assert stage_of(world, model) == "partner-preview"
    tags = [e.tag for e in world.events()]
    promoted = tags.index(str(EventTag.STAGE_PROMOTED), tags.index(str(EventTag.SIGNOFF_RECORDED)))
    # The opening is recorded before the link it made possible.
    assert promoted < tags.index(str(EventTag.LINK_ISSUED))
