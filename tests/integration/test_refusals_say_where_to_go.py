"""Issue 16: a refusal an application can cure says where to apply (the application
URL: an extra field of the JSON error, in the Hugging Face door's GatedRepo message,
on the page) and names tiers by their titles, never by their slugs."""

from __future__ import annotations

from datetime import timedelta

from distserver.access.models import Grant
from distserver.db import utcnow
from distserver.extensions import db
from tests.accounts.helpers import PASSWORD, csrf, sign_in
from tests.support.world import World

APPLY = "http://localhost/models/acme/llm/apply?tier=researcher"


def links(client, ref: str, headers=None):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/v1/models/{ref}/links", json={"path": "config.json"}, headers=headers or {}
    )


def test_a_refusal_an_application_cures_carries_the_application_url(client, world: World) -> None:  # type: ignore[no-untyped-def]
    world.model("acme/llm", stage="research-access")
    nobody = world.person("n@example.org")
    refused = links(client, "acme/llm", nobody.auth)
    assert refused.status_code == 403
    error = refused.json["error"]
    assert error["code"] == "no_grant"
    assert error["apply_url"] == APPLY
    assert "Approved researcher" in error["message"]
    assert "Vetted partner" in error["message"]
    assert "vetted_partner" not in error["message"]
    assert "researcher grant" not in error["message"]
    assert error["message"].endswith(f" Apply for access at {APPLY}")
    # Not signed in: signing in comes first, and the refusal says only that.
    anonymous = links(client, "acme/llm").json["error"]
    assert anonymous["code"] == "login_required"
    assert "apply_url" not in anonymous


def test_an_expired_grant_is_cured_by_applying_again_and_named_by_title(
    client, world: World
) -> None:  # type: ignore[no-untyped-def]
    world.model("acme/llm", stage="research-access")
    expired = world.person("e@example.org", tiers=("researcher",), grant_days=1)
    db.session.execute(
        db.update(Grant)
        .where(Grant.user_id == expired.user.id)
        .values(expires_at=utcnow() - timedelta(seconds=5))
    )
    db.session.commit()
    error = links(client, "acme/llm", expired.auth).json["error"]
    assert error["code"] == "grant_expired"
    assert error["message"] == (
        f"Your Approved researcher grant for acme/llm has expired. Apply for access at {APPLY}"
    )
    assert error["apply_url"] == APPLY


def test_a_refusal_no_application_cures_has_no_application_url(client, world: World) -> None:  # type: ignore[no-untyped-def]
    world.model("acme/partners", stage="partner-preview")  # organisation members only
    nobody = world.person("n@example.org")
    error = links(client, "acme/partners", nobody.auth).json["error"]
    assert error["code"] == "no_grant"
    assert "apply_url" not in error
    assert "Vetted partner" in error["message"]
    assert "vetted_partner" not in error["message"]


def test_the_hugging_face_door_says_where_to_apply(client, world: World) -> None:  # type: ignore[no-untyped-def]
    world.model("acme/llm", stage="research-access")
    nobody = world.person("n@example.org")
    refused = client.get("/acme/llm/resolve/main/config.json", headers=nobody.auth)
    assert refused.status_code == 403
    assert refused.headers["X-Error-Code"] == "GatedRepo"
    native = links(client, "acme/llm", nobody.auth).json["error"]["message"]
    assert refused.headers["X-Error-Message"] == refused.json["error"] == native
    assert native.endswith(f" Apply for access at {APPLY}")


def test_a_refused_web_download_says_where_to_apply(client, world: World) -> None:  # type: ignore[no-untyped-def]
    world.model("acme/llm", stage="research-access")
    world.person("n@example.org", password=PASSWORD)
    assert sign_in(client, "n@example.org").status_code == 302
    token = csrf(client, "/models/acme/llm")
    refused = client.post(
        "/models/acme/llm/download",
        data={"csrf_token": token, "path": "config.json", "revision": "main"},
        follow_redirects=True,
    )
    flashes = refused.get_data(as_text=True).split('class="flashes"', 1)[-1].split("</ul>")[0]
    assert "Approved researcher" in flashes
    assert 'href="/models/acme/llm/apply?tier=researcher"' in flashes
