"""Issue 16's page defects, each fixed test first: the catalog shows title, licence,
total size, last update and stage; the release console never says "0.0 days"; an
anonymous visitor sees no internal gate requirements; the users page's role picker
has no default, it searches by e-mail, and suspending is a danger button behind a
confirmation page; the enrolment code field does not mention recovery codes."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from distserver.extensions import db
from tests.accounts.helpers import PASSWORD, csrf, csrf_from, sign_in
from tests.support.world import DEFAULT_FILES, World


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_catalog_shows_title_licence_size_update_and_stage(
    client: FlaskClient, world: World
) -> None:
    model = world.model("acme/llm", stage="general-availability")
    model.title = "LLM 7B"
    model.card = "---\nlicense: apache-2.0\n---\n# LLM\n"
    db.session.commit()
    page = client.get("/models").get_data(as_text=True)
    table = page.split('id="models"', 1)[1].split("</table>", 1)[0]
    heads = re.findall(r"<th scope=\"col\">([^<]+)</th>", table)
    for column in ("Title", "Licence", "Size", "Last update", "Stage"):
        assert column in heads, heads
    row = text(table.split("<tbody>", 1)[1])
    assert "LLM 7B" in row
    assert "apache-2.0" in row
    assert "general-availability" in row
    total = sum(len(b) for b in DEFAULT_FILES.values())
    assert f"{total / 1000:.1f} kB" in row, row
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", row), row


def test_anonymous_visitors_see_no_internal_gate_requirements(
    client: FlaskClient, world: World
) -> None:
    world.model("acme/llm", stage="research-access")  # next: general-availability
    lead = world.person("lead@example.org", roles=("safety",), password=PASSWORD)
    timeline = text(client.get("/models/acme/llm").get_data(as_text=True))
    assert "societal-impact" not in timeline
    assert "sign-off" not in timeline
    assert "Opens after the lab's release review" in timeline
    assert sign_in(client, "lead@example.org", totp_secret=lead.totp_secret).status_code == 302
    staff_view = text(client.get("/models/acme/llm").get_data(as_text=True))
    assert "evaluations societal-impact passed" in staff_view


def test_the_users_page_role_picker_has_no_default(client: FlaskClient, world: World) -> None:
    boss = world.person("boss@example.org", roles=("admin",), password=PASSWORD)
    alice = world.person("alice@example.org", password=PASSWORD)
    assert sign_in(client, "boss@example.org", totp_secret=boss.totp_secret).status_code == 302
    html = client.get("/admin/users").get_data(as_text=True)
    for select in (f"role-{alice.user.id}", f"action-{alice.user.id}"):
        options = html.split(f'id="{select}"', 1)[1].split("</select>", 1)[0]
        first = re.search(r"<option([^>]*)>", options)
        assert first, (select, options)
        assert 'value=""' in first.group(1), (select, options)
        assert "selected" not in options.replace(first.group(0), ""), (select, options)
    # Submitting the untouched picker changes nothing and says why.
    token = csrf_from(html)
    done = client.post(
        f"/admin/users/{alice.user.id}/role",
        data={"csrf_token": token, "role": "", "action": ""},
        follow_redirects=True,
    )
    assert "Choose an action and a role" in done.get_data(as_text=True)
    db.session.expire_all()
    assert alice.user.role_names == frozenset()


def test_the_enrolment_code_field_asks_for_the_app_code_only(
    client: FlaskClient, world: World
) -> None:
    world.person("ann@example.org", password=PASSWORD)
    assert sign_in(client, "ann@example.org").status_code == 302
    token = csrf(client, "/account/2fa")
    client.post("/account/2fa", data={"csrf_token": token})
    page = text(client.get("/account/2fa").get_data(as_text=True))
    assert "6-digit code from your authenticator app" in page
    assert "recovery code" not in page


def test_the_model_page_shows_the_card_without_its_front_matter(
    client: FlaskClient, world: World
) -> None:
    model = world.model("acme/llm", stage="general-availability")
    model.card = "---\nlicense: apache-2.0\ntags:\n- demo\n---\n# LLM card\n\nBody.\n"
    db.session.commit()
    html = client.get("/models/acme/llm").get_data(as_text=True)
    assert "<h1>LLM card</h1>" in html
    assert "tags:" not in html
    assert "- demo" not in html


def test_the_users_page_searches_by_email(client: FlaskClient, world: World) -> None:
    boss = world.person("boss@example.org", roles=("admin",), password=PASSWORD)
    world.person("alice@lab.example.org", password=PASSWORD)
    world.person("bob@elsewhere.example.org", password=PASSWORD)
    assert sign_in(client, "boss@example.org", totp_secret=boss.totp_secret).status_code == 302
    page = client.get("/admin/users?q=LAB.example").get_data(as_text=True)
    assert 'type="search"' in page
    assert 'name="q"' in page
    rows = text(page.split('id="users"', 1)[1].split("</table>", 1)[0])
    assert "alice@lab.example.org" in rows
    assert "bob@elsewhere.example.org" not in rows
    assert "boss@example.org" not in rows
    nobody = text(client.get("/admin/users?q=nobody-here").get_data(as_text=True))
    assert "No user matches nobody-here" in nobody


def test_suspending_a_user_is_a_danger_button_behind_a_confirmation_page(
    client: FlaskClient, world: World
) -> None:
    boss = world.person("boss@example.org", roles=("admin",), password=PASSWORD)
    alice = world.person("alice@example.org", password=PASSWORD)
    assert sign_in(client, "boss@example.org", totp_secret=boss.totp_secret).status_code == 302
    listing = client.get("/admin/users").get_data(as_text=True)
    confirm_url = f"/admin/users/{alice.user.id}/suspend"
    # The list links to a confirmation page (no JavaScript needed); nothing is posted yet.
    assert re.search(rf'<a class="button danger" href="{confirm_url}"', listing), listing
    confirm = client.get(confirm_url)
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert "Suspend alice@example.org?" in text(html)
    assert re.search(r'<button type="submit" class="danger"[^>]*>Suspend', html), html
    db.session.expire_all()
    assert alice.user.suspended_at is None
    done = client.post(
        confirm_url,
        data={"csrf_token": csrf_from(html), "reason": "lost laptop"},
        follow_redirects=True,
    )
    assert "alice@example.org is suspended" in done.get_data(as_text=True)
    db.session.expire_all()
    assert alice.user.suspended_at is not None
