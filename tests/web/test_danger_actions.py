"""Issue 16: "Halt distribution" looked like every other button and went through on
one click. Danger actions (halt, demote, revoke) carry the danger style and are refused
unless their confirmation box is ticked, which works without JavaScript."""

from __future__ import annotations

import re

from flask import Flask

from distserver.extensions import db
from distserver.releases.models import ReleaseState
from tests.support.world import World
from tests.web.test_staff_pages import CONSOLE, post, signed_in, staff


def _form(html: str, form_id: str) -> str:
    return html.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]


def test_halt_and_demote_are_styled_as_danger_and_ask_for_confirmation(
    app: Flask, world: World
) -> None:
    world.model("acme/llm", stage="research-access")
    admin = signed_in(app, staff(world, "adam@example.org", "admin"))
    html = admin.get(CONSOLE).get_data(as_text=True)
    for form_id in ("halt-form", "demote-form"):
        form = _form(html, form_id)
        assert re.search(r'<button[^>]*class="danger"', form), form
        assert re.search(r'<input[^>]*type="checkbox"[^>]*required', form) or re.search(
            r'<input[^>]*required[^>]*type="checkbox"', form
        ), form


def test_a_halt_without_the_confirmation_box_changes_nothing(app: Flask, world: World) -> None:
    model = world.model("acme/llm", stage="research-access")
    admin = signed_in(app, staff(world, "adam@example.org", "admin"))
    page = post(admin, CONSOLE + "/halt", reason="a jailbreak was reported")
    assert "Tick the box to confirm" in page
    state = db.session.get(ReleaseState, model.id)
    db.session.refresh(state)
    assert state.halted_at is None
    page = post(admin, CONSOLE + "/halt", reason="a jailbreak was reported", confirm="y")
    assert "Distribution is halted" in page


def test_a_demotion_without_the_confirmation_box_changes_nothing(app: Flask, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    admin = signed_in(app, staff(world, "adam@example.org", "admin"))
    page = post(admin, CONSOLE + "/demote", note="regression found")
    assert "Tick the box to confirm" in page
    assert "research-access" in page.split('id="stage"', 1)[1].split("</dd>", 1)[0]
    page = post(admin, CONSOLE + "/demote", note="regression found", confirm="y")
    assert "Demoted to the previous stage." in page
