"""The console pages for organisations and webhooks, through the test client: who may
see and change them (admins, and for changes a second factor proved in the session),
managers named and unnamed, members removed behind a confirmation page, a delivery
redelivered to a real receiver on loopback and a secret rotated; each write leaves its
audit event."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from distserver.access import webhooks
from distserver.access.models import Membership, Webhook, WebhookDelivery
from distserver.audit.tags import EventTag
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.jobs import drain
from distserver.releases import services
from tests.access.test_orgs_webhooks import Receiver
from tests.accounts.helpers import PASSWORD, csrf, sign_in
from tests.support.world import World


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def admin_client(client: FlaskClient, world: World, *, proved: bool = True) -> FlaskClient:
    # Unproved: an admin with no authenticator enrolled signs in with the password alone.
    boss = world.person(
        "boss@example.org", roles=("admin",), password=PASSWORD, second_factor=proved
    )
    response = sign_in(client, "boss@example.org", totp_secret=boss.totp_secret)
    assert response.status_code == 302
    return client


def post(client: FlaskClient, url: str, page: str, **data: str) -> str:
    sent = client.post(url, data={"csrf_token": csrf(client, page), **data}, follow_redirects=True)
    return text(sent.get_data(as_text=True))


def test_only_admins_see_the_console_pages(client: FlaskClient, world: World) -> None:
    reviewer = world.person("rev@example.org", roles=("reviewer",), password=PASSWORD)
    sign_in(client, "rev@example.org", totp_secret=reviewer.totp_secret)
    for page in ("/staff/orgs", "/staff/webhooks"):
        refused = client.get(page)
        assert refused.status_code == 403, page
        assert "Only admin staff may" in refused.get_data(as_text=True)
    assert "Organisations" not in client.get("/").get_data(as_text=True)


def test_changes_need_a_second_factor_proved_in_the_session(
    client: FlaskClient, world: World
) -> None:
    admin_client(client, world, proved=False)
    page = text(client.get("/staff/orgs").get_data(as_text=True))
    assert "Changes need a second factor" in page
    done = post(client, "/staff/orgs", "/staff/orgs", slug="lab", name="Lab", tier="vetted_partner")
    assert "you need a second factor" in done
    assert world.events(EventTag.ORGANIZATION_CREATED) == []


def test_admin_names_a_manager_and_removes_a_member_after_confirming(
    client: FlaskClient, world: World
) -> None:
    admin_client(client, world)
    paula = world.person("paula@example.org", password=PASSWORD)
    done = post(client, "/staff/orgs", "/staff/orgs", slug="lab", name="Lab", tier="vetted_partner")
    assert "Organisation lab created." in done
    done = post(client, "/staff/orgs/lab/members", "/staff/orgs/lab", email="paula@example.org")
    assert "paula@example.org is now a member of lab." in done
    uid = paula.user.id
    done = post(client, f"/staff/orgs/lab/members/{uid}/role", "/staff/orgs/lab", role="manager")
    assert "paula@example.org is now a manager of lab." in done
    assert db.session.query(Membership).one().role == "manager"

    # Bad input says what to fix, on the page.
    done = post(
        client, "/staff/orgs", "/staff/orgs", slug="Bad Slug!", name="X", tier="vetted_partner"
    )
    assert "An organisation slug is 2-63 lowercase letters" in done
    done = post(client, "/staff/orgs/lab/members", "/staff/orgs/lab", email="paula@example.org")
    assert "paula@example.org is a member of lab already." in done

    confirm = client.get(f"/staff/orgs/lab/members/{uid}/remove")
    assert confirm.status_code == 200
    assert "Remove paula@example.org from lab?" in text(confirm.get_data(as_text=True))
    assert db.session.query(Membership).count() == 1  # the page changes nothing
    done = post(
        client, f"/staff/orgs/lab/members/{uid}/remove", f"/staff/orgs/lab/members/{uid}/remove"
    )
    assert "paula@example.org is no longer a member of lab." in done
    assert db.session.query(Membership).count() == 0
    tags = [e.tag for e in world.events() if e.tag.startswith("access:membership")]
    assert tags == [
        EventTag.MEMBERSHIP_ADDED,
        EventTag.MEMBERSHIP_ROLE_CHANGED,
        EventTag.MEMBERSHIP_REMOVED,
    ]


@pytest.fixture
def receiver(app: Flask) -> Iterator[Receiver]:
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ["127.0.0.0/8"]
    r = Receiver([500])
    yield r
    r.close()


def test_a_failed_delivery_is_redelivered_and_a_rotated_secret_signs_it(
    client: FlaskClient, world: World, receiver: Receiver
) -> None:
    admin_client(client, world)
    created = client.post(
        "/staff/webhooks",
        data={
            "csrf_token": csrf(client, "/staff/webhooks"),
            "url": receiver.url,
            "events": ["release:stage:halted"],
        },
    )
    assert created.status_code == 201
    first = re.search(r'id="hook-secret">([^<]+)<', created.get_data(as_text=True))
    assert first
    hook = db.session.query(Webhook).one()
    model = world.model("acme/llm", stage="research-access")
    services.halt(db.session, model, "a jailbreak was reported", SYSTEM)  # one delivery
    drain()
    failed = db.session.query(WebhookDelivery).one()
    assert failed.last_status == 500

    page = f"/staff/webhooks/{hook.id}"
    listing = text(client.get(page).get_data(as_text=True))
    assert "release:stage:halted" in listing
    assert "500" in listing

    rotated = client.post(f"{page}/rotate", data={"csrf_token": csrf(client, f"{page}/rotate")})
    assert rotated.status_code == 200
    new = re.search(r'id="hook-secret">([^<]+)<', rotated.get_data(as_text=True))
    assert new
    assert new.group(1) != first.group(1)
    assert new.group(1) not in client.get(page).get_data(as_text=True)

    done = post(client, f"{page}/deliveries/{failed.id}/redeliver", page)
    assert f"Delivery {failed.id} is queued again" in done
    drain()
    db.session.expire_all()
    again = db.session.query(WebhookDelivery).order_by(WebhookDelivery.id.desc()).first()
    assert again is not None
    assert again.id != failed.id
    assert again.status == "delivered"
    last = receiver.received[-1]
    assert last["body"] == failed.body
    signed = webhooks.signature(
        new.group(1), last["headers"]["X-Distserver-Timestamp"], last["body"]
    )
    assert last["headers"]["X-Distserver-Signature"] == signed
    assert [e.tag for e in world.events() if e.tag.startswith("access:webhook")] == [
        EventTag.WEBHOOK_CREATED,
        EventTag.WEBHOOK_SECRET_ROTATED,
        EventTag.WEBHOOK_REDELIVERED,
    ]
    # A delivery of another hook, or none, is not found.
    missing = post(client, f"{page}/deliveries/999/redeliver", page)
    assert f"No delivery 999 of webhook {hook.id}." in missing
