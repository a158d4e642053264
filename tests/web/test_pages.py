"""The web pages through Flask's test client (SQLite and PostgreSQL): what each page
shows each visitor, the next step read from the decision, safe Markdown, the web
download door (302 to a signed link, recorded), and the error pages."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from distserver.access.models import Application
from distserver.audit.tags import EventTag
from distserver.extensions import db
from tests.accounts.helpers import csrf, sign_in
from tests.support.world import World
from tests.web.support import PASSWORD, seed


def test_catalog_lists_visible_models_with_stage_and_access(
    client: FlaskClient, world: World
) -> None:
    seed(world)
    html = client.get("/models").get_data(as_text=True)
    assert "acme/open-llm" in html
    assert "acme/research-llm" in html
    assert "acme/secret-llm" not in html  # internal: staff only
    assert "You can download" in html
    assert "Sign in to download" in html
    only = client.get("/models?downloadable=1").get_data(as_text=True)
    assert "acme/open-llm" in only
    assert "acme/research-llm" not in only
    staged = client.get("/models?stage=partner-preview").get_data(as_text=True)
    assert "acme/partner-llm" in staged
    assert "acme/open-llm" not in staged
    found = client.get("/models?q=RESEARCH").get_data(as_text=True)
    assert "acme/research-llm" in found
    assert "acme/open-llm" not in found


def test_model_page_renders_card_safely_and_offers_downloads(
    client: FlaskClient, world: World
) -> None:
    seed(world)
    response = client.get("/models/acme/open-llm")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<em>small</em>" in html
    assert "<script>alert" not in html
    assert "onerror" not in html
    assert 'data-step="download"' in html
    assert "config.json" in html
    assert "hf download acme/open-llm" in html
    assert "curl -fL" in html
    assert client.get("/models/acme/secret-llm").status_code == 404
    assert client.get("/models/acme/nope").status_code == 404
    assert client.get("/models/acme/open-llm?revision=" + "0" * 40).status_code == 404


def test_web_download_redirects_to_a_recorded_signed_link(
    client: FlaskClient, world: World
) -> None:
    seed(world)
    token = csrf(client, "/models/acme/open-llm")
    response = client.post(
        "/models/acme/open-llm/download", data={"csrf_token": token, "path": "config.json"}
    )
    assert response.status_code == 302
    assert "/files/" in response.location
    (event,) = world.events(EventTag.LINK_ISSUED.value)
    assert event.path == "config.json"
    assert json.loads(event.data)["door"] == "web"
    body = client.get(response.location)
    assert body.status_code == 200
    assert body.data == b'{"hidden_size": 8}\n'
    # Without the CSRF token the door refuses and issues nothing.
    refused = client.post("/models/acme/open-llm/download", data={"path": "config.json"})
    assert refused.status_code == 400
    assert len(world.events(EventTag.LINK_ISSUED.value)) == 1


def test_next_steps_follow_the_decision(client: FlaskClient, world: World) -> None:
    models = seed(world)
    html = client.get("/models/acme/research-llm").get_data(as_text=True)
    assert 'data-step="sign_in"' in html
    world.person("rita@example.org", password=PASSWORD)
    sign_in(client, "rita@example.org", PASSWORD)
    html = client.get("/models/acme/research-llm").get_data(as_text=True)
    assert 'data-step="apply"' in html
    assert "tier=researcher" in html
    html = client.get("/models/acme/partner-llm").get_data(as_text=True)
    assert 'data-step="ask_org"' in html
    # Apply through the form.
    page = client.get("/models/acme/research-llm/apply?tier=researcher")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Affiliation" in text
    assert "research-use" in text
    token = csrf(client, "/models/acme/research-llm/apply?tier=researcher")
    sha = world.rt.tiers["researcher"].agreement.sha256
    missing = client.post(
        "/models/acme/research-llm/apply?tier=researcher",
        data={"csrf_token": token, "answer_affiliation": "Uni", "agreement_sha256": sha},
    )
    assert missing.status_code == 400
    done = client.post(
        "/models/acme/research-llm/apply?tier=researcher",
        data={
            "csrf_token": token,
            "answer_affiliation": "Uni",
            "answer_intended_use": "Interpretability research",
            "accept": "y",
            "agreement_sha256": sha,
        },
    )
    assert done.status_code == 302
    assert done.location.endswith("/access")
    (application,) = db.session.scalars(db.select(Application)).all()
    assert application.model_id == models["research"].id
    html = client.get("/models/acme/research-llm").get_data(as_text=True)
    assert 'data-step="wait_review"' in html
    mine = client.get("/access").get_data(as_text=True)
    assert "acme/research-llm" in mine
    assert "pending" in mine


def test_review_page_is_for_reviewers(client: FlaskClient, world: World) -> None:
    seed(world)
    world.person("rita@example.org", password=PASSWORD)
    sign_in(client, "rita@example.org", PASSWORD)
    assert client.get("/review").status_code == 403
    assert client.get("/access").status_code == 200


def test_error_pages_share_the_layout(client: FlaskClient, world: World) -> None:
    response = client.get("/models/acme/none")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "Skip to content" in html
    assert "Browse the models" in html
    bad = client.get("/review?status=bogus")
    assert bad.status_code == 302  # sign-in first
    assert client.post("/models/acme/none/download").status_code == 400  # CSRF


def test_agreement_page_then_download(client: FlaskClient, world: World) -> None:
    models = seed(world)
    world.person(
        "rita@example.org",
        tiers=("researcher",),
        model=models["research"],
        accept=False,
        password=PASSWORD,
    )
    sign_in(client, "rita@example.org", PASSWORD)
    html = client.get("/models/acme/research-llm").get_data(as_text=True)
    assert 'data-step="accept"' in html
    assert "agreement?tier=researcher" in html
    page = "/models/acme/research-llm/agreement?tier=researcher"
    text = client.get(page).get_data(as_text=True)
    assert "research-use" in text
    assert "version 1" in text
    shown = world.rt.tiers["researcher"].agreement.sha256
    refused = client.post(page, data={"csrf_token": csrf(client, page), "shown": shown})
    assert refused.status_code == 400  # the box was not ticked
    done = client.post(page, data={"csrf_token": csrf(client, page), "shown": shown, "accept": "y"})
    assert done.status_code == 302
    html = client.get("/models/acme/research-llm").get_data(as_text=True)
    assert 'data-step="download"' in html
    assert len(world.events(EventTag.AGREEMENT_ACCEPTED.value)) == 1


def test_my_access_renew_and_withdraw(client: FlaskClient, world: World) -> None:
    from distserver.access import applications
    from distserver.access.models import Grant
    from distserver.accounts.services import principal_for

    models = seed(world)
    rt = world.rt
    person = world.person("rita@example.org", password=PASSWORD)
    reviewer = world.person("rev@example.org", roles=("reviewer",))
    first = applications.submit(
        db.session,
        rt.tiers,
        person.user,
        models["research"],
        "researcher",
        {"affiliation": "Uni", "intended_use": "study"},
        actor=principal_for(person.user, "test"),
        agreement_sha256=rt.tiers["researcher"].agreement.sha256,
    )
    applications.decide(
        db.session, rt.tiers, [first.id], "approve", None, principal_for(reviewer.user, "test")
    )
    sign_in(client, "rita@example.org", PASSWORD)
    html = client.get("/access").get_data(as_text=True)
    assert "Ask to renew" in html
    assert "active" in html
    (grant,) = db.session.scalars(db.select(Grant)).all()
    token = csrf(client, "/access")
    refused = client.post(
        f"/access/grants/{grant.id}/renew", data={f"g{grant.id}-csrf_token": token}
    )
    assert refused.status_code == 302
    assert len(db.session.scalars(db.select(Application)).all()) == 1
    client.post(
        f"/access/grants/{grant.id}/renew",
        data={f"g{grant.id}-csrf_token": token, f"g{grant.id}-accept": "y"},
    )
    db.session.expire_all()
    renewal = db.session.scalar(db.select(Application).where(Application.id != first.id))
    assert renewal is not None
    assert renewal.status == "pending"
    assert renewal.renewal_of_id == grant.id
    assert "(renewal)" in client.get("/access").get_data(as_text=True)
    client.post(f"/access/applications/{renewal.id}/withdraw", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Application, renewal.id).status == "withdrawn"
    # Someone else's (or no) grant: not found.
    missing = client.post(
        "/access/grants/9999/renew", data={"g9999-csrf_token": token, "g9999-accept": "y"}
    )
    assert missing.status_code == 404
