"""The web journeys in chromium (issue 8, done-when 1 to 3; issue 5, done-when 1):
a visitor browses and downloads a public model; a researcher applies, a reviewer
approves through the review queue (with the second factor proved at sign-in), and
the researcher downloads; a reviewer rejects with a reason the applicant sees; an
admin halts a model and the researcher's download button turns into an explanation.

Every page visited is screenshotted by the `page` fixture (1000x700) and checked
with axe-core: no serious or critical violation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyotp

from distserver.access.models import Application
from distserver.accounts.services import principal_for
from distserver.audit.models import AuditEvent
from distserver.audit.tags import EventTag
from distserver.catalog.services import find_model
from distserver.extensions import db
from distserver.releases.services import halt
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import LiveServer
from tests.browser.test_demo_tour import keep
from tests.support.world import DEFAULT_FILES, World

PASSWORD = "a long and careful passphrase"
VIEWPORT = {"width": 1000, "height": 700}
CARD = """# Open LLM

A small **open** model for tests.

| field | value |
| --- | --- |
| parameters | 8 |

<script>document.title = 'owned'</script>
"""


def _world(live: LiveServer, tmp_path: Path) -> World:
    return World(live.app, tmp_path / "sources")


def setup(page: Any) -> None:
    page.set_viewport_size(VIEWPORT)
    page.set_default_timeout(10_000)


def visit(page: Any, url: str) -> None:
    page.goto(url)
    assert_accessible(page)


def sign_in(page: Any, live: LiveServer, email: str, secret: str | None = None) -> None:
    visit(page, live.at("/login"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    if secret is not None:
        assert "/login/code" in page.url
        assert_accessible(page)
        page.fill("input[name=code]", pyotp.TOTP(secret).now())
        page.click("input[type=submit]")
    assert "/login" not in page.url, page.inner_text("main")
    assert_accessible(page)


def sign_out(page: Any) -> None:
    page.click("header >> text=Sign out")
    assert "signed out" in page.inner_text("ul.flashes")


def download(page: Any, path: str) -> bytes:
    with page.expect_download() as info:
        page.click(f"button[aria-label='Download {path}']")
    return Path(info.value.path()).read_bytes()


def issued(live: LiveServer, ref: str) -> list[dict[str, Any]]:
    with live.app.app_context():
        rows = db.session.scalars(
            db.select(AuditEvent).where(
                AuditEvent.tag == EventTag.LINK_ISSUED.value, AuditEvent.model == ref
            )
        )
        return [{"actor": e.actor, "path": e.path, **json.loads(e.data)} for e in rows]


def test_visitor_browses_and_downloads_a_public_model(
    live_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    with live_server.app.app_context():
        world = _world(live_server, tmp_path)
        model = world.model("acme/open-llm", plan="open")
        model.card = CARD
        db.session.commit()
        world.model("acme/research-llm", stage="research-access")
    setup(page)

    visit(page, live_server.at("/"))
    page.click("main a.button")
    assert_accessible(page)
    rows = page.inner_text("#models")
    assert "acme/open-llm" in rows
    assert "acme/research-llm" in rows
    assert "You can download" in rows
    assert "Sign in to download" in rows

    page.check("#downloadable")
    page.click("form.filters button")
    assert_accessible(page)
    rows = page.inner_text("#models")
    assert "acme/open-llm" in rows
    assert "acme/research-llm" not in rows

    page.click("#models >> text=acme/open-llm")
    assert_accessible(page)
    assert page.title() != "owned"  # the card's script was sanitised away
    assert page.inner_text(".card table")  # Markdown tables render
    assert page.get_attribute("#next-step", "data-step") == "download"
    assert "general-availability" in page.inner_text("#timeline")
    assert "hf download acme/open-llm" in page.inner_text("#snippet-hf")
    assert page.locator("button.copy").count() >= 3  # copy buttons from copy.js
    sha = hashlib.sha256(DEFAULT_FILES["config.json"]).hexdigest()
    assert sha in page.inner_text("#files")

    body = download(page, "config.json")
    assert hashlib.sha256(body).hexdigest() == sha
    (event,) = issued(live_server, "acme/open-llm")
    assert event["actor"] == "anonymous"
    assert event["door"] == "web"

    visit(page, live_server.at("/models/acme/no-such-model"))  # the 404 page, same design
    assert "Not found" in page.inner_text("h1")
    assert "Browse the models" in page.inner_text("main")


def _apply(page: Any, live: LiveServer) -> None:
    visit(page, live.at("/models/acme/research-llm"))
    assert page.get_attribute("#next-step", "data-step") == "apply"
    page.click("#next-step >> text=Apply for")
    assert_accessible(page)
    page.fill("input[name=answer_affiliation]", "University of Tests")
    page.fill("textarea[name=answer_intended_use]", "Interpretability research on small models.")
    page.click("#application input[type=submit]")
    # The agreement box is required: the browser holds the form back (and the
    # server refuses it too, see tests/web).
    assert page.eval_on_selector("input[name=accept]", "e => !e.validity.valid")
    assert "/apply" in page.url
    page.check("input[name=accept]")
    page.click("#application input[type=submit]")
    assert page.url.endswith("/access")
    assert "application for acme/research-llm was sent" in page.inner_text("ul.flashes")
    assert "pending" in page.inner_text("#applications")
    assert_accessible(page)
    visit(page, live.at("/models/acme/research-llm"))
    assert page.get_attribute("#next-step", "data-step") == "wait_review"


def _seed_review(live: LiveServer, tmp_path: Path) -> str:
    with live.app.app_context():
        world = _world(live, tmp_path)
        world.model("acme/research-llm", stage="research-access")
        world.person("rita@example.org", password=PASSWORD)
        reviewer = world.person("rev@example.org", roles=("reviewer",), password=PASSWORD)
        assert reviewer.totp_secret
        return reviewer.totp_secret


def test_researcher_applies_reviewer_approves_researcher_downloads(
    live_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    secret = _seed_review(live_server, tmp_path)
    setup(page)

    visit(page, live_server.at("/models/acme/research-llm"))
    assert page.get_attribute("#next-step", "data-step") == "sign_in"
    sign_in(page, live_server, "rita@example.org")
    _apply(page, live_server)
    sign_out(page)

    sign_in(page, live_server, "rev@example.org", secret)
    assert "1 pending" in page.inner_text("#queue")
    page.click("#queue >> text=Open the review queue")
    assert_accessible(page)
    card = page.locator("article.application").first
    assert "University of Tests" in card.inner_text()
    assert "Interpretability research" in card.inner_text()
    card.locator("input[type=submit][value=Approve]").click()
    assert "approved" in page.inner_text("ul.flashes")
    assert_accessible(page)
    visit(page, live_server.at("/review?status=approved"))
    assert "rev@example.org" in page.inner_text("main")
    sign_out(page)

    sign_in(page, live_server, "rita@example.org")
    assert "approved" in page.inner_text("#my-applications")
    visit(page, live_server.at("/models/acme/research-llm"))
    assert page.get_attribute("#next-step", "data-step") == "download"
    body = download(page, "model.safetensors")
    assert body == DEFAULT_FILES["model.safetensors"]
    (event,) = issued(live_server, "acme/research-llm")
    assert event["actor"] == "rita@example.org"
    assert event["door"] == "web"
    visit(page, live_server.at("/access"))
    assert "active" in page.inner_text("#grant-list")
    visit(page, live_server.at("/"))
    assert "model.safetensors" in page.inner_text("#my-downloads")


def test_reviewer_rejects_with_a_reason_the_applicant_sees(
    live_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    secret = _seed_review(live_server, tmp_path)
    setup(page)
    reason = "Please apply with your institutional e-mail address."

    sign_in(page, live_server, "rita@example.org")
    _apply(page, live_server)
    sign_out(page)

    sign_in(page, live_server, "rev@example.org", secret)
    visit(page, live_server.at("/review"))
    card = page.locator("article.application").first
    card.locator("input[type=submit][value=Reject]").click()  # no reason: refused
    assert "needs a reason" in page.inner_text("ul.flashes")
    assert_accessible(page)
    card = page.locator("article.application").first
    card.locator("textarea").fill(reason)
    card.locator("input[type=submit][value=Reject]").click()
    assert "rejected" in page.inner_text("ul.flashes")
    sign_out(page)

    sign_in(page, live_server, "rita@example.org")
    visit(page, live_server.at("/access"))
    assert "rejected" in page.inner_text("#applications")
    assert reason in page.inner_text("#applications")
    with live_server.app.app_context():
        (application,) = db.session.scalars(db.select(Application)).all()
        assert application.status == "rejected"
        assert application.reason == reason
    visit(page, live_server.at("/models/acme/research-llm"))
    # The cooling-off period: applying again is refused with the tier's sentence.
    page.click("#next-step >> text=Apply for")
    page.fill("input[name=answer_affiliation]", "University of Tests")
    page.fill("textarea[name=answer_intended_use]", "Again.")
    page.check("input[name=accept]")
    page.click("#application input[type=submit]")
    assert "may apply again from" in page.inner_text("ul.flashes")
    assert_accessible(page)


def test_admin_halt_turns_the_download_button_into_an_explanation(
    live_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    with live_server.app.app_context():
        world = _world(live_server, tmp_path)
        model = world.model("acme/research-llm", stage="research-access")
        world.person("rita@example.org", tiers=("researcher",), model=model, password=PASSWORD)
        admin = world.person("boss@example.org", roles=("admin",), password=PASSWORD)
        admin_id = admin.user.id
    setup(page)

    sign_in(page, live_server, "rita@example.org")
    visit(page, live_server.at("/models/acme/research-llm"))
    assert page.get_attribute("#next-step", "data-step") == "download"
    assert page.locator("button[aria-label='Download config.json']").count() == 1

    # The admin halts it (through the release service, as the staff console does).
    with live_server.app.app_context():
        from distserver.accounts.models import User

        boss = db.session.get(User, admin_id)
        target = find_model(db.session, "acme", "research-llm")
        assert boss is not None
        assert target is not None
        halt(db.session, target, "A safety issue is under review.", principal_for(boss, "test"))

    # The page loaded before the halt: its button is refused, and explains why.
    page.click("button[aria-label='Download config.json']")
    assert "halted" in page.inner_text("ul.flashes")
    assert_accessible(page)
    assert page.get_attribute("#next-step", "data-step") == "halted"
    assert "A safety issue is under review." in page.inner_text("#halted")
    assert page.locator("button[aria-label='Download config.json']").count() == 0
    keep(page, "halted-model")  # the README's picture of a halted model
    assert issued(live_server, "acme/research-llm") == []
    visit(page, live_server.at("/models"))
    assert "Halted" in page.inner_text("#models")
