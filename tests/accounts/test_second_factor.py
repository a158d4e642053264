"""Staff actions that widen or stop distribution need a second factor: without one
a staff user cannot promote, halt or approve; with one, they can. Also: TOTP codes
are single-use, recovery codes work once, and the sign-in asks for the code."""

from __future__ import annotations

import time

import pyotp
import pytest
from flask import Flask

from distserver.accounts.second_factor import check_code
from distserver.accounts.services import create_token, principal_for
from distserver.errors import Forbidden
from distserver.extensions import db
from distserver.identity import require_role
from distserver.releases import services
from tests.accounts.helpers import PASSWORD, csrf, csrf_from, sign_in
from tests.releases.support import staff
from tests.support.world import World

REVIEWERS = frozenset({"reviewer", "admin"})


def _ready_for_promotion(world: World):  # type: ignore[no-untyped-def]
    """A model at `internal` whose partner-preview gate is met."""
    plans = world.rt.plans
    model = world.model("acme/llm", stage=None)
    ev = principal_for(world.person("eve@example.org", roles=("safety",)).user, "test")
    for name in ("red-team", "dangerous-capabilities"):
        services.evaluate(db.session, model, plans, name, "pass", f"report:{name}", ev)
    for i in range(2):
        signer = world.person(f"s{i}@example.org", roles=("safety",))
        services.signoff(db.session, model, plans, principal_for(signer.user, "test"))
    return model


def test_promote_needs_a_second_factor(app: Flask, world: World) -> None:
    model = _ready_for_promotion(world)
    plans = world.rt.plans
    bare = world.person("bare@example.org", roles=("safety",), second_factor=False)
    with pytest.raises(Forbidden) as refused:
        services.promote(db.session, model, plans, principal_for(bare.user, "test"))
    assert refused.value.code == "second_factor_required"
    assert services.gate_status(db.session, model, plans).stage == "internal"

    enrolled = world.person("sam@example.org", roles=("safety",))
    services.promote(db.session, model, plans, principal_for(enrolled.user, "test"))
    assert services.gate_status(db.session, model, plans).stage == "partner-preview"


def test_halt_through_the_api_needs_a_second_factor(app: Flask, world: World) -> None:
    world.model("acme/llm")
    client = app.test_client()
    bare = world.person("bare@example.org", roles=("safety",), second_factor=False)
    assert bare.totp_secret is None
    raw = create_token(db.session, bare.user, name="m", scopes=("read", "manage")).raw
    answer = client.post(
        "/api/v1/models/acme/llm/halt",
        json={"reason": "test"},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert answer.status_code == 403
    assert answer.json["error"]["code"] == "second_factor_required"

    sam = staff(world, "sam@example.org", "safety")
    answer = client.post("/api/v1/models/acme/llm/halt", json={"reason": "test"}, headers=sam.auth)
    assert answer.status_code == 200, answer.json


def test_a_web_session_counts_only_after_the_code(app: Flask, world: World) -> None:
    world.model("acme/llm")
    sam = world.person("sam@example.org", roles=("safety",), password=PASSWORD)
    client = app.test_client()
    first = sign_in(client, "sam@example.org")
    assert first.status_code == 302
    assert first.location.endswith("/login/code")
    assert client.get("/account").status_code == 302, "signed in before the second factor"
    assert sam.totp_secret is not None
    token = csrf(client, "/login/code")
    wrong = client.post("/login/code", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 401
    code = pyotp.TOTP(sam.totp_secret).now()
    ok = client.post("/login/code", data={"csrf_token": token, "code": code})
    assert ok.status_code == 302
    halted = client.post(
        "/api/v1/models/acme/llm/halt",
        json={"reason": "session test"},
        headers={"X-CSRFToken": csrf(client, "/account")},
    )
    assert halted.status_code == 200, halted.json

    # A remembered session restored without the code does not count.
    again = app.test_client()
    next_code = pyotp.TOTP(sam.totp_secret).at(time.time() + 30)
    sign_in(again, "sam@example.org", remember=True, totp_code=next_code)
    remember = again.get_cookie("remember_token")
    assert remember is not None
    restored = app.test_client()
    restored.set_cookie("remember_token", remember.value)
    resumed = restored.post(
        "/api/v1/models/acme/llm/resume",
        json={},
        headers={"X-CSRFToken": csrf(restored, "/account")},
    )
    assert resumed.status_code == 403
    assert resumed.json["error"]["code"] == "second_factor_required"


def test_approve_needs_a_second_factor(app: Flask, world: World) -> None:
    """The approve action calls require_role(..., second_factor=True): the same check."""
    bare = world.person("rev@example.org", roles=("reviewer",), second_factor=False)
    with pytest.raises(Forbidden) as refused:
        require_role(
            principal_for(bare.user, "t"), REVIEWERS, "approve applications", second_factor=True
        )
    assert refused.value.code == "second_factor_required"
    enrolled = world.person("rev2@example.org", roles=("reviewer",))
    require_role(
        principal_for(enrolled.user, "t"), REVIEWERS, "approve applications", second_factor=True
    )


def test_codes_are_single_use(app: Flask, world: World) -> None:
    sam = world.person("sam@example.org", roles=("admin",))
    assert sam.totp_secret
    assert len(sam.recovery_codes) == 10
    user = sam.user
    totp = pyotp.TOTP(sam.totp_secret)
    assert check_code(db.session, user, totp.now())
    assert not check_code(db.session, user, totp.now()), "a TOTP code was accepted twice"
    assert not check_code(db.session, user, totp.at(time.time() - 30)), "an older step"
    code = sam.recovery_codes[3]
    assert check_code(db.session, user, code.upper())
    assert not check_code(db.session, user, code)
    assert not check_code(db.session, user, "abcd-efgh-jkmn-pqrs")


def test_enrolment_page_qr_code_and_recovery_codes_shown_once(app: Flask, world: World) -> None:
    import re

    from distserver.accounts.models import RecoveryCode

    world.person("rita@example.org", password=PASSWORD)
    client = app.test_client()
    sign_in(client, "rita@example.org")
    client.post("/account/2fa", data={"csrf_token": csrf(client, "/account/2fa")})
    page = client.get("/account/2fa").get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)  # type: ignore[union-attr]
    done = client.post(
        "/account/2fa/confirm",
        data={"csrf_token": csrf_from(page), "code": pyotp.TOTP(secret).now()},
    )
    assert done.status_code == 201
    assert done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"\b[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}\b", done.get_data(True))
    assert len(codes) == 10
    stored = {r.code_hash for r in db.session.scalars(db.select(RecoveryCode))}
    assert len(stored) == 10
    assert not {c for c in codes} & stored
    assert secret not in client.get("/account/2fa").get_data(as_text=True)
    assert codes[0] not in client.get("/account").get_data(as_text=True)
