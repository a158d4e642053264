"""Done when 2: with the brake on, the next request after the alert is refused with
its reason and whom to contact, and acknowledging the alert restores access; brake
and release are audit events. On PostgreSQL, so the download fast path takes the
token's requests: the brake suspends the tokens, which the fast path checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from distserver.access.models import WebhookDelivery
from distserver.access.webhooks import create_webhook
from distserver.audit.tags import EventTag
from distserver.cli import main
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.mail import read_outbox
from tests.alerts.support import alerts, alerts_app, ask, seal_and_evaluate
from tests.support.world import World

pytestmark = pytest.mark.postgres

RULES = """
contact = "abuse@lab.example"
[shared_credential]
max_addresses = 1
window = "1h"
brake = "suspend_tokens"
[refusal_burst]
max_refusals = 100
"""


def _watch_fast_path(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What the fast path made of each token request's facts: None (they let it go
    on) or why it handed the request to the full path; "access changed" when its
    writing statement then found the access version moved on (cached facts)."""
    from distserver.downloads import fastcache, fastfacts

    seen: list[str | None] = []
    original = fastfacts.gathered
    original_clear = fastcache.clear

    def watched(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        seen.append(result.full_path)
        return result

    def cleared() -> None:
        seen.append("access changed")
        original_clear()

    monkeypatch.setattr(fastfacts, "gathered", watched)
    monkeypatch.setattr(fastcache, "clear", cleared)
    return seen


def test_brake_refuses_with_reason_until_acknowledged(
    make_app: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = alerts_app(make_app, tmp_path, "postgres", RULES)
    fast = _watch_fast_path(monkeypatch)
    with app.app_context():
        world = World(app, tmp_path / "src")
        model = world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",), model=model)
        world.person("safety@example.org", roles=("safety",))
        create_webhook(db.session, "https://hooks.example.org/a", ["alert.*"], SYSTEM)
        client = app.test_client()
        assert ask(client, "198.51.100.1", auth=person.auth).status_code == 201
        assert ask(client, "198.51.100.2", auth=person.auth).status_code == 201
        seal_and_evaluate(app)
        [alert] = alerts()

        refused = ask(client, "198.51.100.1", auth=person.auth)
        assert refused.status_code == 403
        assert refused.json["error"]["code"] == "braked"
        # The fast path answered the first two itself and handed the braked token over:
        # its cached facts said the token was live, but the brake moved the access
        # version on, so the writing statement wrote nothing.
        assert fast == [None, None, None, "access changed"]
        message = refused.json["error"]["message"]
        assert f"alert {alert.id} (shared_credential)" in message
        assert "abuse@lab.example" in message
        assert [e.data for e in World.events(EventTag.BRAKE_APPLIED)]

        # Delivered: the hook subscribed to alert.* and the safety staff's mail.
        events = [d.event for d in db.session.scalars(db.select(WebhookDelivery))]
        assert "alert.raised" in events
        mails = read_outbox()
        assert any(m["to"] == "safety@example.org" and "shared_credential" in m["subject"]
                   for m in mails)  # fmt: skip

        result = CliRunner().invoke(
            main, ["alerts", "ack", str(alert.id), "--note", "their laptop and phone"]
        )
        assert result.exit_code == 0, result.output
        assert ask(client, "198.51.100.1", auth=person.auth).status_code == 201
        [released] = World.events(EventTag.BRAKE_RELEASED)
        assert f'"alert_id":{alert.id}' in released.data
        assert len(World.events(EventTag.ALERT_ACKNOWLEDGED)) == 1
        assert alerts()[0].state == "acknowledged"


def test_dismissing_releases_the_brake_too(make_app: Any, tmp_path: Path) -> None:
    app = alerts_app(make_app, tmp_path, "postgres", RULES)
    with app.app_context():
        world = World(app, tmp_path / "src")
        model = world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",), model=model)
        client = app.test_client()
        ask(client, "198.51.100.1", auth=person.auth)
        ask(client, "198.51.100.2", auth=person.auth)
        seal_and_evaluate(app)
        [alert] = alerts()
        assert ask(client, "198.51.100.1", auth=person.auth).status_code == 403
        result = CliRunner().invoke(main, ["alerts", "dismiss", str(alert.id)])
        assert result.exit_code == 0, result.output
        assert ask(client, "198.51.100.1", auth=person.auth).status_code == 201
        assert len(World.events(EventTag.ALERT_DISMISSED)) == 1
