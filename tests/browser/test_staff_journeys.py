"""Issue 8's staff journeys in chromium on the live server: a safety lead records an
evaluation, signs off and promotes; an admin halts a model; an auditor filters
downloads and exports them. Every page visited is screenshotted (the `page` fixture)
and checked with axe-core: no serious or critical issue."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa

from distserver.accounts.services import principal_for
from distserver.audit.keys import signing_key
from distserver.audit.sealing import seal_pending
from distserver.extensions import db
from distserver.releases import services
from tests.accounts.helpers import PASSWORD
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import LiveServer
from tests.browser.navigation import follow
from tests.support.world import Person, World

CONSOLE = "/staff/models/acme/llm/release"


def _world(live: LiveServer) -> World:
    return World(live.app, Path(live.app.instance_path) / "sources")


def creds(person: Person) -> tuple[str, str]:
    """E-mail and TOTP secret, read while the app context still holds the user."""
    return person.user.email, person.totp_secret or ""


def sign_in(page: Any, live: LiveServer, who: tuple[str, str]) -> None:
    page.goto(live.at("/login"))
    assert_accessible(page)
    page.fill("input[name=email]", who[0])
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    assert "/login/code" in page.url, "staff sign-in should ask for the authenticator code"
    assert_accessible(page)
    page.fill("input[name=code]", pyotp.TOTP(who[1]).now())
    page.click("input[type=submit]")
    assert "/login" not in page.url, page.inner_text("main")
    check(page)  # the page sign-in lands on


def visit(page: Any, live: LiveServer, path: str) -> None:
    page.goto(live.at(path))
    assert_accessible(page)


def check(page: Any) -> None:
    assert_accessible(page)


def flashes(page: Any) -> str:
    check(page)
    return page.inner_text("ul.flashes")


def test_safety_lead_records_signs_off_and_promotes(live_server: LiveServer, page: Any) -> None:
    with live_server.app.app_context():
        world = _world(live_server)
        model = world.model("acme/llm", stage=None)  # at internal
        carol = world.person("carol@example.org", roles=("safety",), password=PASSWORD)
        dana = world.person("dana@example.org", roles=("safety",), password=PASSWORD)
        lead = creds(world.person("lead@example.org", roles=("safety",), password=PASSWORD))
        # Evidence a colleague already gathered: one evaluation (carol) and one sign-off
        # (dana); the lead records the other evaluation... and so may not sign off
        # (separation of duties), so carol's evaluation and the lead's own are split:
        plans = world.rt.plans
        services.evaluate(
            db.session,
            model,
            plans,
            "dangerous-capabilities",
            "pass",
            "dc.pdf",
            principal_for(carol.user, "t"),
        )
        services.signoff(db.session, model, plans, principal_for(dana.user, "t"))

    sign_in(page, live_server, lead)
    visit(page, live_server, "/staff/")
    assert "acme/llm" in page.inner_text("#models")
    page.click("text=acme/llm")
    assert page.url == live_server.at(CONSOLE)
    assert_accessible(page)
    assert "evaluation red-team: no result" in page.inner_text("#gate")

    # The lead records the red-team evaluation through the console...
    page.select_option("#name", "red-team")
    page.select_option("#result", "pass")
    page.fill("#report", "reports/red-team-2026.pdf")
    page.click("#evaluation-form button")
    assert "Evaluation red-team recorded." in flashes(page)
    assert "red-team: passed" in page.inner_text("#gate")
    # ...which bars the lead from signing off the same gate: the service says so.
    page.fill("#signoff-note", "reviewed")
    page.click("text=Sign off this gate")
    assert "separation of duties" in flashes(page)

    # A second safety lead signs off and promotes in the same browser.
    page.click("text=Sign out")
    assert "signed out" in flashes(page)
    with live_server.app.app_context():
        erin = creds(
            _world(live_server).person("erin@example.org", roles=("safety",), password=PASSWORD)
        )
    sign_in(page, live_server, erin)
    visit(page, live_server, CONSOLE)
    page.fill("#signoff-note", "both reports read")
    page.click("text=Sign off this gate")
    assert "Your sign-off is recorded." in flashes(page)
    assert "sign-offs from safety staff: 2 of 2" in page.inner_text("#gate")
    assert "The gate is met" in page.inner_text("#gate-summary")
    page.fill("#promote-note", "to partners")
    page.click("text=Promote to partner-preview")
    assert "Promoted to the next stage." in flashes(page)
    assert "partner-preview" in page.inner_text("#stage")
    assert "release:stage:promoted" in page.inner_text("#timeline")


def test_admin_halts_a_model(live_server: LiveServer, page: Any) -> None:
    with live_server.app.app_context():
        world = _world(live_server)
        world.model("acme/llm", stage="research-access")
        adam = creds(world.person("adam@example.org", roles=("admin",), password=PASSWORD))
    sign_in(page, live_server, adam)
    visit(page, live_server, CONSOLE)
    page.locator("#halt-form").scroll_into_view_if_needed()
    page.shot("danger-zone")
    page.fill("#halt-reason", "a jailbreak was reported")
    page.check("#halt-confirm")  # a danger action: its box must be ticked
    page.click("text=Halt distribution")
    assert "Distribution is halted" in flashes(page)
    assert "halted" in page.inner_text("#stage")
    assert "a jailbreak was reported" in page.inner_text("#halted")
    visit(page, live_server, "/staff/")
    assert "(halted)" in page.inner_text("#models")


def test_auditor_filters_downloads_and_exports_them(live_server: LiveServer, page: Any) -> None:
    now = datetime.now(UTC)
    with live_server.app.app_context():
        world = _world(live_server)
        world.model("acme/llm")
        audrey = creds(world.person("audrey@example.org", roles=("auditor",), password=PASSWORD))
        rows = [
            {
                "occurred_at": now - timedelta(days=i % 4, minutes=i),
                "tag": "download:link:issued" if i % 5 else "account:login:succeeded",
                "actor_id": 100 + i % 2,
                "actor": ("rita@example.org", "paul@example.org")[i % 2],
                "model": ("acme/llm", "acme/other")[i % 3 == 0],
                "path": "model.safetensors",
                "tier": ("researcher", "vetted_partner")[i % 2],
                "data": "{}",
            }
            for i in range(20)
        ]
        db.session.execute(sa.insert(sa.table("audit_events", *map(sa.column, rows[0]))), rows)
        db.session.commit()
        seal_pending(db.session, signing_key(live_server.app.config))
        expected = sum(
            1 for r in rows if r["tag"].startswith("download:") and r["actor"] == "rita@example.org"
        )

    sign_in(page, live_server, audrey)
    visit(page, live_server, "/staff/audit")
    assert page.locator("svg#chart-tier rect.bar").count() > 0
    assert page.locator("svg#chart-model rect.bar").count() > 0
    page.locator("svg#chart-tier").scroll_into_view_if_needed()
    page.shot("audit-charts")
    page.fill("#f-user", "rita@example.org")
    page.select_option("#f-action", "download")
    page.click("#filters button")
    assert_accessible(page)
    assert "user=rita%40example.org" in page.url or "user=rita@example.org" in page.url
    listed = page.locator("#events tbody tr").count()
    assert listed == expected, (listed, expected)

    with page.expect_download() as info:
        page.click("text=Export these events as CSV")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as handle:
        exported = list(csv.DictReader(io.StringIO(handle.read())))
    assert len(exported) == expected
    assert {r["actor"] for r in exported} == {"rita@example.org"}
    assert all(r["tag"].startswith("download:") for r in exported)

    follow(page, "#events tbody tr >> nth=0 >> text=rita@example.org")
    assert_accessible(page)
    assert "Downloads by rita@example.org" in page.inner_text("h1")
    follow(page, "#events tbody tr >> nth=0 >> text=acme/")
    assert_accessible(page)
    assert "Downloads of acme/" in page.inner_text("h1")
