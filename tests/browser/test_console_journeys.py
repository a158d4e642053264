"""Issue 16's console in chromium on the live server: an admin creates a model, edits
its card, adds a grant and revokes it, all from the pages, and finds each action's
audit event on the audit page. Every page visited is checked with axe-core (no
serious or critical issue) and screenshotted by the `page` fixture."""

from __future__ import annotations

from typing import Any

from tests.accounts.helpers import PASSWORD
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import LiveServer
from tests.browser.test_staff_journeys import _world, check, creds, flashes, sign_in, visit

CARD = "# Tiny 1B\n\nA small model for the console test.\n"


def audit_tags(page: Any, live: LiveServer, action: str) -> str:
    visit(page, live, f"/staff/audit?action={action}")
    return page.inner_text("#events")


def test_admin_creates_a_model_and_edits_its_card(live_server: LiveServer, page: Any) -> None:
    with live_server.app.app_context():
        adam = creds(
            _world(live_server).person(
                "adam@example.org", roles=("admin", "auditor"), password=PASSWORD
            )
        )
    sign_in(page, live_server, adam)
    visit(page, live_server, "/staff/")
    page.click("text=New model")
    check(page)
    page.fill("#ref", "acme/tiny")
    page.fill("#title", "Tiny 1B")
    page.select_option("#plan", "default")
    page.fill("#licence", "not a licence")
    page.fill("#card", CARD)
    page.click("#new-model-form button")
    check(page)
    assert "A licence is an identifier" in page.inner_text("#form-errors")
    assert page.input_value("#card").startswith("# Tiny 1B")  # nothing typed is lost
    page.fill("#licence", "apache-2.0")
    page.click("#new-model-form button")
    assert "acme/tiny is created at stage internal" in flashes(page)
    assert page.url == live_server.at("/staff/models/acme/tiny")
    assert page.inner_text("#licence") == "apache-2.0"
    assert "No revision yet" in page.inner_text("#revisions")

    page.click("text=Edit the card")
    check(page)
    assert page.input_value("#card").startswith("---\nlicense: apache-2.0\n---\n")
    page.fill("#card", "---\nlicense: apache-2.0\n---\n# Tiny 1B\n\nEvaluated on 2026-12-01.\n")
    page.click("#card-form button")
    assert "The card is saved." in flashes(page)
    assert "Evaluated on 2026-12-01." in page.inner_text("#card")

    events = audit_tags(page, live_server, "catalog")
    assert "catalog:model:created" in events
    assert "catalog:card:edited" in events
    assert "acme/tiny" in events


def test_admin_adds_and_revokes_a_grant(live_server: LiveServer, page: Any) -> None:
    with live_server.app.app_context():
        world = _world(live_server)
        world.model("acme/llm", stage="research-access")
        world.person("rita@example.org")
        adam = creds(world.person("adam@example.org", roles=("admin",), password=PASSWORD))
    sign_in(page, live_server, adam)
    visit(page, live_server, "/models/acme/llm")
    page.click("#staff-links a")
    check(page)
    page.click("text=Manage grants")
    check(page)
    assert "No live grant covers this model." in page.inner_text("#grants")
    page.fill("#email", "rita@example.org")
    page.select_option("#tier", "researcher")
    page.fill("#days", "30")
    page.click("#grant-form button")
    assert "Granted researcher on acme/llm to rita@example.org" in flashes(page)
    row = page.locator("#grants tbody tr", has_text="rita@example.org")
    assert row.count() == 1

    row.get_by_role("button", name="Extend").click()
    assert "now runs until" in flashes(page)

    page.locator("#grants tbody tr", has_text="rita@example.org").locator("a.danger-link").click()
    check(page)
    assert "Revoke grant" in page.inner_text("h1")
    page.check("#revoke-confirm")
    page.click("#revoke-form button.danger")
    assert "is revoked" in flashes(page)
    assert "No live grant covers this model." in page.inner_text("#grants")
    page.click("text=Show expired and revoked grants too")
    check(page)
    assert "revoked" in page.locator("#grants tbody tr", has_text="rita@example.org").inner_text()

    events = audit_tags(page, live_server, "access")
    for tag in ("access:grant:added", "access:grant:extended", "access:grant:revoked"):
        assert tag in events, (tag, events)
    assert_accessible(page)
