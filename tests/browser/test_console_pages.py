"""Issue 16's console pages for organisations, webhooks and users, in chromium on the
live server: an admin adds an organisation member and creates a webhook from the
pages, and each leaves its audit event (read back on the audit page); axe-core finds
no serious or critical issue on any page visited; the staff navigation of a person
holding every role fits one line at 1200 px."""

from __future__ import annotations

from typing import Any

from distserver.extensions import db
from tests.accounts.helpers import PASSWORD
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import LiveServer
from tests.browser.test_staff_journeys import _world, creds, flashes, sign_in, visit

EVERY_ROLE = ("admin", "reviewer", "safety", "auditor")


def _nav_lines(page: Any) -> int:
    """How many lines the main navigation takes: distinct tops of its items."""
    tops = page.evaluate(
        "Array.from(document.querySelectorAll('header nav > *'))"
        ".map(e => Math.round(e.getBoundingClientRect().top))"
    )
    lines: list[int] = []
    for top in sorted(tops):
        if not lines or top - lines[-1] > 8:
            lines.append(top)
    return len(lines)


def test_the_staff_navigation_fits_one_line_at_1200_px(live_server: LiveServer, page: Any) -> None:
    with live_server.app.app_context():
        world = _world(live_server)
        world.model("acme/llm", stage="research-access")
        everyone = creds(
            world.person("release-administrator@example.org", roles=EVERY_ROLE, password=PASSWORD)
        )
    page.set_viewport_size({"width": 1200, "height": 900})
    sign_in(page, live_server, everyone)
    for path in ("/", "/staff/", "/admin/users", "/staff/orgs", "/staff/webhooks"):
        visit(page, live_server, path)
        assert _nav_lines(page) == 1, f"the navigation wraps on {path}"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1200, f"{path} is {width} px wide"


def test_admin_adds_an_organisation_member_from_the_pages(
    live_server: LiveServer, page: Any
) -> None:
    with live_server.app.app_context():
        world = _world(live_server)
        adam = creds(world.person("adam@example.org", roles=("admin",), password=PASSWORD))
        world.person("paula@partner.example.org", password=PASSWORD)
    sign_in(page, live_server, adam)
    page.click("header nav >> text=Organisations")
    assert_accessible(page)
    assert "No organisations yet" in page.inner_text("#orgs")

    page.fill("#org-slug", "partner-lab")
    page.fill("#org-name", "Partner Lab")
    page.click("#create-org button")
    assert "Organisation partner-lab created." in flashes(page)
    page.click("#orgs >> text=partner-lab")
    assert_accessible(page)
    assert "No agreement signed yet" in page.inner_text("#agreement")

    page.fill("#member-email", "paula@partner.example.org")
    page.select_option("#member-role", "manager")
    page.click("#add-member button")
    assert "paula@partner.example.org is now a manager of partner-lab." in flashes(page)
    assert "paula@partner.example.org" in page.inner_text("#members")

    page.fill("#signed-by", "Dr. Director")
    page.click("#sign-agreement button")
    assert "signed by Dr. Director for partner-lab is recorded" in flashes(page)
    assert "Dr. Director" in page.inner_text("#agreement")

    # An unknown e-mail is refused on the page with what to fix.
    page.fill("#member-email", "nobody@example.org")
    page.click("#add-member button")
    assert "nobody@example.org" in flashes(page)

    visit(page, live_server, "/staff/audit?action=access")
    events = page.inner_text("#events")
    assert "access:membership:added" in events
    assert "access:organization:created" in events
    assert "access:organization:agreement_signed" in events


def test_admin_creates_a_webhook_and_rotates_its_secret_from_the_pages(
    live_server: LiveServer, page: Any
) -> None:
    with live_server.app.app_context():
        world = _world(live_server)
        adam = creds(world.person("adam@example.org", roles=("admin",), password=PASSWORD))
    sign_in(page, live_server, adam)
    page.click("header nav >> text=Webhooks")
    assert_accessible(page)
    page.fill("#hook-url", "https://hooks.example.org/distserver")
    page.check("input[name=events][value='access:application:submitted']")
    page.check("input[name=events][value='release:stage:promoted']")
    page.click("#create-hook button")
    assert_accessible(page)
    secret = page.inner_text("#hook-secret").strip()
    assert len(secret) >= 40, secret
    assert "shown only this once" in page.inner_text("main")
    # The secret is on no later page.
    page.click("text=Every webhook")
    assert_accessible(page)
    assert secret not in page.content()
    page.click("#hooks >> text=https://hooks.example.org/distserver")
    assert_accessible(page)
    assert secret not in page.content()
    assert "No deliveries yet" in page.inner_text("#deliveries")

    page.click("text=Rotate the secret…")
    assert_accessible(page)
    page.click("main form button.danger")
    assert_accessible(page)
    rotated = page.inner_text("#hook-secret").strip()
    assert rotated
    assert rotated != secret

    with live_server.app.app_context():
        from distserver.access.models import Webhook

        stored = db.session.query(Webhook).one()
        assert stored.secret == rotated
        assert stored.events.split() == ["access:application:submitted", "release:stage:promoted"]

    visit(page, live_server, "/staff/audit?action=access")
    events = page.inner_text("#events")
    assert "access:webhook:created" in events
    assert "access:webhook:secret_rotated" in events


def test_admin_finds_a_user_and_suspends_them_after_confirming(
    live_server: LiveServer, page: Any
) -> None:
    with live_server.app.app_context():
        world = _world(live_server)
        adam = creds(world.person("adam@example.org", roles=("admin",), password=PASSWORD))
        for email in ("mallory@elsewhere.example.org", "alice@lab.example.org"):
            world.person(email, password=PASSWORD)
    sign_in(page, live_server, adam)
    page.click("header nav >> text=Users")
    assert_accessible(page)
    page.fill("#q", "elsewhere")
    page.click("#user-search button")
    assert_accessible(page)
    rows = page.inner_text("#users tbody")
    assert "mallory@elsewhere.example.org" in rows
    assert "alice@lab.example.org" not in rows
    # The role pickers start on "choose": nothing is preselected.
    assert page.locator("#users tbody select").evaluate_all("s => s.map(e => e.value)") == [
        "",
        "",
    ]

    # Suspending goes through a confirmation page; JavaScript plays no part in it.
    danger = page.locator("#users a.button.danger")
    colour = danger.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(161, 38, 26)", colour  # var(--bad)
    danger.click()
    assert_accessible(page)
    assert "Suspend mallory@elsewhere.example.org?" in page.inner_text("h1")
    page.fill("#reason", "shared their token")
    page.click("#confirm-form button.danger")
    assert "mallory@elsewhere.example.org is suspended" in flashes(page)

    visit(page, live_server, "/staff/audit?action=account")
    assert "account:user:suspended" in page.inner_text("#events")


def test_removing_an_organisation_member_asks_first(live_server: LiveServer, page: Any) -> None:
    with live_server.app.app_context():
        from distserver.access import organizations
        from distserver.identity import SYSTEM

        world = _world(live_server)
        adam = creds(world.person("adam@example.org", roles=("admin",), password=PASSWORD))
        paula = world.person("paula@example.org", password=PASSWORD)
        org = organizations.create_org(
            db.session, "lab", "Lab", world.rt.tiers["vetted_partner"], SYSTEM
        )
        organizations.add_member(db.session, org, paula.user, SYSTEM)
    sign_in(page, live_server, adam)
    visit(page, live_server, "/staff/orgs/lab")
    page.click("#members >> text=Make a manager")
    assert "paula@example.org is now a manager of lab." in flashes(page)
    page.click("#members >> text=Remove…")
    assert_accessible(page)
    page.click("text=Cancel")
    assert "paula@example.org" in page.inner_text("#members")
    page.click("#members >> text=Remove…")
    page.click("#confirm-form button.danger")
    assert "paula@example.org is no longer a member of lab." in flashes(page)
    assert "No members yet." in page.inner_text("#members")
