"""The lab's console pages for models and grants through Flask's test client: a model
is created with its licence in the card, its card edited, its revisions listed; grants
are added, extended and revoked (after a confirmation); each leaves its audit event;
the roles and the second factor are the services' own; refused forms say what to fix
on the page. The query budget of these pages is checked with the other staff pages
(tests/web/test_staff_pages.py)."""

from __future__ import annotations

import json
import re

from flask import Flask
from flask.testing import FlaskClient

from distserver.access.models import Grant
from distserver.catalog.services import find_model
from distserver.extensions import db
from distserver.hf.serializers import card_data
from tests.accounts.helpers import PASSWORD, csrf_from
from tests.support.world import World
from tests.web.test_staff_pages import signed_in, staff

CARD = "---\nlanguage: en\n---\n# Tiny\n\nA small model.\n"


def submit(client: FlaskClient, page: str, url: str, **data: object) -> tuple[int, str]:
    token = csrf_from(client.get(page).get_data(as_text=True))
    answer = client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)
    return answer.status_code, answer.get_data(as_text=True)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def event_data(world: World, tag: str) -> list[dict]:
    return [json.loads(e.data or "{}") | {"_model": e.model} for e in world.events(tag)]


def test_a_safety_lead_creates_a_model_and_edits_its_card(app: Flask, world: World) -> None:
    person = staff(world, "lead@example.org", "safety")
    lead = signed_in(app, person)
    status, page = submit(
        lead,
        "/staff/models/new",
        "/staff/models/new",
        ref="acme/tiny",
        title="Tiny 1B",
        plan="default",
        licence="apache-2.0",
        card=CARD,
    )
    assert status == 200, text(page)
    assert "acme/tiny is created at stage internal" in page, text(page)
    model = find_model(db.session, "acme", "tiny")
    assert model is not None
    assert model.title == "Tiny 1B"
    assert card_data(model.card) == {"license": "apache-2.0", "language": "en"}
    assert "apache-2.0" in text(page.split('id="licence"', 1)[1].split("</dd>", 1)[0])
    [created] = event_data(world, "catalog:model:created")
    assert created["_model"] == "acme/tiny"

    status, page = submit(
        lead,
        "/staff/models/acme/tiny/card",
        "/staff/models/acme/tiny/card",
        title="Tiny 1B",
        card="---\nlicense: mit\n---\n# Tiny, now with evaluations\n",
    )
    assert status == 200
    assert "The card is saved." in page
    assert "<h1>Tiny, now with evaluations</h1>" in page
    [edited] = event_data(world, "catalog:card:edited")
    assert edited["changed"] == ["card"]
    assert edited["_model"] == "acme/tiny"
    db.session.refresh(model)
    assert card_data(model.card) == {"license": "mit"}
    # The Hugging Face door serves the edited front matter as cardData.
    world.publish(model, {"config.json": b"{}\n"})
    info = app.test_client().get("/api/models/acme/tiny", headers=person.auth).get_json()
    assert info.get("cardData") == {"license": "mit"}, info


def test_refused_model_forms_say_what_to_fix_and_keep_the_input(app: Flask, world: World) -> None:
    world.model("acme/llm")
    lead = signed_in(app, staff(world, "lead@example.org", "safety"))
    cases = {
        "acme": "is not NAMESPACE/NAME",
        "acme/llm": "acme/llm already exists",
        "acme/bad name": "A model name is",
    }
    for ref, said in cases.items():
        status, page = submit(
            lead, "/staff/models/new", "/staff/models/new", ref=ref, plan="default",
            licence="mit", card="# kept text",
        )  # fmt: skip
        assert status == 400, (ref, text(page))
        assert said in text(page), (ref, text(page))
        assert "# kept text" in page
    status, page = submit(
        lead, "/staff/models/new", "/staff/models/new", ref="acme/x", plan="default",
        licence="not a licence", card="",
    )  # fmt: skip
    assert status == 400
    assert "A licence is an identifier" in page
    status, page = submit(
        lead, "/staff/models/acme/llm/card", "/staff/models/acme/llm/card",
        title="x", card="---\nlicense: mit\n# never closed\n",
    )  # fmt: skip
    assert status == 400
    assert "never closes it" in page
    assert world.events("catalog:card:edited") == []


def test_roles_and_the_second_factor_decide_who_edits(app: Flask, world: World) -> None:
    world.model("acme/llm")
    reviewer = signed_in(app, staff(world, "rev@example.org", "reviewer"))
    assert reviewer.get("/staff/models/acme/llm").status_code == 200
    status, page = submit(
        reviewer, "/staff/models/acme/llm/card", "/staff/models/acme/llm/card", title="t", card="x"
    )
    assert status == 400
    assert "Only admin or safety staff may edit model cards." in page
    unproved = signed_in(app, staff(world, "sam@example.org", "admin", second_factor=False))
    status, page = submit(
        unproved, "/staff/models/new", "/staff/models/new", ref="acme/new", plan="default",
        licence="mit", card="",
    )  # fmt: skip
    assert status == 400
    assert "you need a second factor" in page
    assert find_model(db.session, "acme", "new") is None
    rita = signed_in(app, world.person("rita@example.org", password=PASSWORD))
    for url in ("/staff/models/new", "/staff/models/acme/llm", "/staff/models/acme/llm/grants"):
        assert rita.get(url).status_code == 403, url
    anonymous = app.test_client().get("/staff/models/acme/llm")
    assert anonymous.status_code == 302
    assert "/login" in anonymous.location


def test_the_staff_page_lists_the_revisions(app: Flask, world: World) -> None:
    model = world.model("acme/llm")
    second = world.publish(model, {"config.json": b"{}\n"})
    admin = signed_in(app, staff(world, "adam@example.org", "admin"))
    page = admin.get("/staff/models/acme/llm").get_data(as_text=True)
    rows = page.split('id="revisions"', 1)[1].split("</tbody>", 1)[0].split("<tr>")[2:]
    assert len(rows) == 2
    assert second[:12] in rows[0]
    assert "main" in rows[0]
    assert "3" in text(rows[1])
    assert "1" in text(rows[0])


def test_a_reviewer_adds_extends_and_revokes_a_grant(app: Flask, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    world.person("rita@example.org")
    reviewer = signed_in(app, staff(world, "rev@example.org", "reviewer"))
    grants = "/staff/models/acme/llm/grants"
    status, page = submit(
        reviewer, grants, grants, email="rita@example.org", tier="researcher", days="10"
    )
    assert "Granted researcher on acme/llm to rita@example.org" in page, text(page)
    grant = db.session.scalar(db.select(Grant))
    assert grant is not None
    assert "rita@example.org" in page.split('id="grants"', 1)[1]
    [added] = event_data(world, "access:grant:added")
    assert added["user"] == "rita@example.org"
    assert added["_model"] == "acme/llm"

    before = grant.expires_at
    status, page = submit(reviewer, grants, f"{grants}/{grant.id}/extend", days="30")
    assert f"Grant {grant.id} now runs until" in page
    db.session.refresh(grant)
    assert grant.expires_at is not None
    assert before is not None
    assert (grant.expires_at - before).days == 30
    [extended] = event_data(world, "access:grant:extended")
    assert extended["days"] == 30
    assert extended["grant_id"] == grant.id

    confirm = f"{grants}/{grant.id}/revoke"
    html = reviewer.get(confirm).get_data(as_text=True)
    assert 'class="danger"' in html
    assert 'type="checkbox"' in html
    status, page = submit(reviewer, confirm, confirm)  # the box not ticked
    assert status == 400
    assert "Tick the box to confirm" in page
    db.session.refresh(grant)
    assert grant.revoked_at is None
    status, page = submit(reviewer, confirm, confirm, confirm="y")
    assert f"Grant {grant.id} is revoked" in page
    db.session.refresh(grant)
    assert grant.revoked_at is not None
    [revoked] = event_data(world, "access:grant:revoked")
    assert revoked["grant_id"] == grant.id
    live = reviewer.get(grants).get_data(as_text=True)
    assert "No live grant covers this model." in live
    everything = reviewer.get(grants + "?all=1").get_data(as_text=True)
    row = everything.split(f'data-grant="{grant.id}"', 1)[1].split("</tr>", 1)[0]
    assert "status-revoked" in row
    assert "Revoke" not in row


def test_grant_forms_refuse_with_a_reason(app: Flask, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    grants = "/staff/models/acme/llm/grants"
    reviewer = signed_in(app, staff(world, "rev@example.org", "reviewer"))
    _, page = submit(reviewer, grants, grants, email="nobody@example.org", tier="researcher")
    assert "No user with e-mail nobody@example.org." in page
    _, page = submit(reviewer, grants, grants, email="rev@example.org", tier="researcher", days="0")
    assert "Between 1 and 3650 days." in page
    safety = signed_in(app, staff(world, "sal@example.org", "safety"))
    _, page = submit(safety, grants, grants, email="rev@example.org", tier="researcher")
    assert "Only admin or reviewer staff may add grants." in page
    assert world.events("access:grant:added") == []
