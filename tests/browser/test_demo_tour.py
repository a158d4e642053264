"""Issue 16, done-when 1: the README's browser tour, followed step by step on a fresh
`distserver demo` (a real process, as a newcomer starts it), with the passwords the
demo prints and the codes `distserver users totp-code` prints in a second "terminal"
(the environment of tokens.env). The pages it visits are checked with axe-core; the
README's screenshots are retaken by this run into test-artifacts/readme-screenshots/
(copied into docs/screenshots by hand, so a test run never edits the tree)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.browser.accessibility import assert_accessible
from tests.support.demo_process import BIN, Demo, fresh_demo  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]
README_SHOTS = ROOT / "test-artifacts" / "readme-screenshots"
VIEWPORT = {"width": 1000, "height": 700}


def sign_in(page: Any, demo: Demo, email: str) -> None:
    page.goto(demo.url + "/login")
    assert_accessible(page)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", demo.password(email))
    page.click("input[type=submit]")
    assert "/login/code" in page.url, page.inner_text("main")
    assert_accessible(page)
    page.fill("input[name=code]", demo.totp_code(email))
    page.click("input[type=submit]")
    assert "/login" not in page.url, page.inner_text("main")
    assert_accessible(page)


def sign_out(page: Any) -> None:
    page.click("header >> text=Sign out")
    assert "signed out" in page.inner_text("ul.flashes")


def flashes(page: Any) -> str:
    assert_accessible(page)
    return page.inner_text("ul.flashes")


def keep(page: Any, name: str) -> None:
    """Retake one of the README's screenshots."""
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    target = README_SHOTS / f"{name}.png"
    page.screenshot(path=str(target), animations="disabled")
    assert target.stat().st_size > 0


def test_the_readme_browser_tour_on_a_fresh_demo(fresh_demo: Demo, page: Any) -> None:  # noqa: F811
    demo = fresh_demo
    assert shutil.which("hf", path=str(BIN.parent)), "make demo installs the `hf` command"
    readme = (ROOT / "README.md").read_text().lower()
    for step in (
        "sign in as reviewer@example.org",
        "approve visitor@example.org's application",
        "sign in as safety@example.org",
        "record red-team and dangerous-capabilities",
        "sign in as admin@example.org",
        "sign off the gate, then promote",
    ):
        assert step in readme, f"the README's browser tour lost the step {step!r}"
    page.set_viewport_size(VIEWPORT)
    page.set_default_timeout(15_000)

    # The public model page, as an anonymous visitor meets it.
    page.goto(demo.url + "/models/acme/tiny-open")
    assert_accessible(page)
    keep(page, "model-page")

    # 1-2. The reviewer approves the seeded application.
    sign_in(page, demo, "reviewer@example.org")
    page.click("header >> text=Review queue")
    assert_accessible(page)
    card = page.locator("article.application").first
    assert "visitor@example.org" in card.inner_text()
    assert "acme/tiny-llm" in card.inner_text()
    keep(page, "review-queue")
    card.locator("input[type=submit][value=Approve]").click()
    assert "approved" in flashes(page)
    sign_out(page)

    # 3-4. The safety lead records the two evaluations of tiny-preview's gate.
    sign_in(page, demo, "safety@example.org")
    page.click("header >> text=Release console")
    assert_accessible(page)
    page.click("text=acme/tiny-preview")
    assert_accessible(page)
    for name in ("red-team", "dangerous-capabilities"):
        page.select_option("#name", name)
        page.select_option("#result", "pass")
        page.fill("#report", f"reports/{name}.pdf")
        page.click("#evaluation-form button")
        assert f"Evaluation {name} recorded." in flashes(page)
    assert "sign-offs from safety staff: 1 of 2" in page.inner_text("#gate")
    sign_out(page)

    # 5-6. A second safety lead signs off (with the seeded one: 2 of 2) and promotes.
    sign_in(page, demo, "admin@example.org")
    page.click("header >> text=Release console")
    page.click("text=acme/tiny-preview")
    assert_accessible(page)
    page.fill("#signoff-note", "both reports read")
    page.click("text=Sign off this gate")
    assert "Your sign-off is recorded." in flashes(page)
    assert "The gate is met" in page.inner_text("#gate-summary")
    keep(page, "release-console")
    page.fill("#promote-note", "to partners")
    page.click("text=Promote to partner-preview")
    assert "Promoted to the next stage." in flashes(page)
    assert "partner-preview" in page.inner_text("#stage")

    # The promotion is public: the visitor's approved grant and the new stage show.
    sign_out(page)
    page.goto(demo.url + "/models/acme/tiny-preview")
    assert_accessible(page)
    assert "partner-preview" in page.inner_text("main")
