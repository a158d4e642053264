"""The second factor across sessions and the tokens they mint: a table of
(how the session began) by (what it tries) → the expected answer.

A session that proved the user's TOTP code may mint a `manage` token, and that token
may do what the session could. A session restored from the "keep me signed in"
cookie proved nothing: it may not record evaluations or sign-offs (web or API), nor
mint a `manage` token that would. A token carries what its creating session proved,
so a token minted without the factor is refused every staff action that needs it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient

from distserver.accounts.models import ApiToken, UserRole
from distserver.accounts.second_factor import begin_enrolment, confirm_enrolment
from distserver.accounts.services import create_token
from distserver.extensions import db
from tests.accounts.helpers import PASSWORD, csrf, csrf_from, sign_in
from tests.support.world import Person, World

MODEL = "acme/llm"
EVALUATION = {"name": "red-team", "result": "pass", "report": "report:1"}


def proved_session(app: Flask, person: Person) -> FlaskClient:
    client = app.test_client()
    answer = sign_in(client, person.user.email, totp_secret=person.totp_secret)
    assert answer.status_code == 302
    assert "/login" not in answer.location
    return client


def remembered_session(app: Flask, person: Person) -> FlaskClient:
    """A session rebuilt from the remember cookie alone (the code was entered once,
    in another session, days ago)."""
    first = app.test_client()
    code = pyotp.TOTP(person.totp_secret or "").at(time.time() + 30)
    sign_in(first, person.user.email, remember=True, totp_code=code)
    cookie = first.get_cookie("remember_token")
    assert cookie is not None
    restored = app.test_client()
    restored.set_cookie("remember_token", cookie.value)
    assert restored.get("/account").status_code == 200, "the remember cookie did not sign in"
    return restored


def mint(client: FlaskClient, scope: str, name: str = "t") -> tuple[int, str | None]:
    page = client.post(
        "/account/tokens",
        data={
            "csrf_token": csrf(client, "/account"),
            "name": name,
            "scope": scope,
            "expires_days": "30",
        },
    )
    raw = re.search(r'id="new-token">(dst_\w+)<', page.get_data(as_text=True))
    return page.status_code, raw.group(1) if raw else None


def api(client: FlaskClient, ref: str, path: str, body: dict[str, Any]) -> int:
    headers = {"X-CSRFToken": csrf(client, "/account")}
    return client.post(f"/api/v1/models/{ref}{path}", json=body, headers=headers).status_code


def console(client: FlaskClient, ref: str, path: str, **data: str) -> str:
    page = f"/staff/models/{ref}/release"
    token = csrf_from(client.get(page).get_data(as_text=True))
    answer = client.post(page + path, data={"csrf_token": token, **data}, follow_redirects=True)
    return answer.get_data(as_text=True)


def outcome(page: str, success: str) -> str:
    if success in page:
        return "done"
    return "refused" if "you need a second factor" in page else "other"


def _with_token(client: FlaskClient, ref: str, path: str, body: dict[str, Any]) -> int:
    status, raw = mint(client, "manage")
    if raw is None:
        return status
    other = client.application.test_client()
    headers = {"Authorization": f"Bearer {raw}"}
    return other.post(f"/api/v1/models/{ref}{path}", json=body, headers=headers).status_code


Attempt = Callable[[FlaskClient, str], object]
# what the session tries -> (answer after a proved sign-in, answer from the remember cookie)
CASES: dict[str, tuple[Attempt, object, object]] = {
    "mint a read token": (lambda c, m: mint(c, "read")[0], 201, 201),
    "mint a manage token": (lambda c, m: mint(c, "manage")[0], 201, 403),
    "record an evaluation (API)": (lambda c, m: api(c, m, "/evaluations", EVALUATION), 201, 403),
    "sign off the gate (API)": (lambda c, m: api(c, m, "/signoffs", {}), 201, 403),
    "halt (API)": (lambda c, m: api(c, m, "/halt", {"reason": "t"}), 200, 403),
    "record an evaluation (web)": (
        lambda c, m: outcome(console(c, m, "/evaluations", **EVALUATION), "Evaluation red-team"),
        "done",
        "refused",
    ),
    "sign off the gate (web)": (
        lambda c, m: outcome(console(c, m, "/signoffs"), "Your sign-off is recorded."),
        "done",
        "refused",
    ),
    "evaluate with a token it minted": (
        lambda c, m: _with_token(c, m, "/evaluations", EVALUATION),
        201,
        403,
    ),
    "halt with a token it minted": (
        lambda c, m: _with_token(c, m, "/halt", {"reason": "t"}),
        200,
        403,
    ),
}


def test_second_factor_rules_for_sessions_and_the_tokens_they_mint(
    app: Flask, world: World
) -> None:
    mismatches, tried = [], 0
    for n, (action, (attempt, when_proved, when_remembered)) in enumerate(CASES.items()):
        for how, start, want in (
            ("proved", proved_session, when_proved),
            ("remembered", remembered_session, when_remembered),
        ):
            # A fresh model and person per case: no evidence or halt carries over.
            ref = f"acme/m{n}-{how}"
            world.model(ref, stage=None)
            person = world.person(f"s{n}{how}@example.org", roles=("safety",), password=PASSWORD)
            got = attempt(start(app, person), ref)
            tried += 1
            if got != want:
                mismatches.append((action, how, want, got))
    print(f"\nsecond-factor rules: {tried} cases tried, {len(mismatches)} mismatches")
    assert mismatches == []


def test_a_token_minted_before_the_factor_cannot_act_for_staff(app: Flask, world: World) -> None:
    """A user with no role and no factor may mint a manage token (to apply for access
    through the API); once made staff and enrolled, that token still carries no
    factor, so the staff actions that need one refuse it. Tokens from before tokens
    recorded the factor (migrated as false) are refused the same way."""
    world.model(MODEL, stage=None)
    pat = world.person("pat@example.org", password=PASSWORD)
    status, raw = mint(proved_session(app, pat), "manage")
    assert status == 201
    assert raw is not None
    db.session.add(UserRole(user_id=pat.user.id, role="safety"))
    secret = begin_enrolment(db.session, pat.user).secret
    confirm_enrolment(db.session, pat.user, pyotp.TOTP(secret).at(time.time() - 30))
    client = app.test_client()
    api_path = f"/api/v1/models/{MODEL}"
    headers = {"Authorization": f"Bearer {raw}"}
    refused = client.post(api_path + "/evaluations", json=EVALUATION, headers=headers)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "second_factor_required"
    assert client.get(api_path + "/gate", headers=headers).status_code == 200  # still staff

    sam = world.person("sam@example.org", roles=("safety",))
    legacy = create_token(db.session, sam.user, name="old", scopes=("read", "manage")).raw
    db.session.execute(
        db.update(ApiToken).where(ApiToken.user_id == sam.user.id).values(second_factor=False)
    )
    db.session.commit()
    answer = client.post(
        api_path + "/signoffs", json={}, headers={"Authorization": f"Bearer {legacy}"}
    )
    assert answer.status_code == 403
    assert answer.json["error"]["code"] == "second_factor_required"
