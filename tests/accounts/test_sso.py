"""SSO accounts are keyed by (issuer, sub), never by e-mail; an identity joins an
existing account only with verified e-mail on both sides and that account's
password; a callback with a state this browser never sent is refused."""

from __future__ import annotations

from typing import Any

import pytest

from distserver.accounts.sso import SsoClaims, confirm_link, resolve_identity
from distserver.audit.tags import EventTag
from distserver.errors import DistserverError
from distserver.extensions import db
from tests.accounts.helpers import PASSWORD
from tests.support.world import World

ISSUER = "http://127.0.0.1:9"


def claims(sub: str, email: str, verified: bool = True, issuer: str = ISSUER) -> SsoClaims:
    return SsoClaims(issuer=issuer, subject=sub, email=email, email_verified=verified)


def test_identities_are_keyed_by_issuer_and_subject(app: Any, world: World) -> None:
    first = resolve_identity(db.session, claims("u1", "ann@lab.org"), "t").user
    assert first is not None
    # Same subject, the provider now reports another e-mail: still the same account.
    again = resolve_identity(db.session, claims("u1", "changed@lab.org"), "t").user
    assert again is not None
    assert again.id == first.id
    # Same e-mail from another issuer is not the same identity: it must be linked.
    other = resolve_identity(db.session, claims("u1", "ann@lab.org", issuer="http://x"), "t")
    assert other.user is None
    assert other.link_to is not None
    assert other.link_to.id == first.id


def test_linking_needs_verified_email_and_the_accounts_password(app: Any, world: World) -> None:
    alice = world.person("alice@example.org", password=PASSWORD)
    with pytest.raises(DistserverError) as refused:
        resolve_identity(db.session, claims("s9", "alice@example.org", verified=False), "t")
    assert refused.value.code == "sso_link_refused"
    outcome = resolve_identity(db.session, claims("s9", "alice@example.org"), "t")
    assert outcome.link_to is not None
    assert outcome.user is None
    with pytest.raises(DistserverError):
        confirm_link(db.session, alice.user, claims("s9", "alice@example.org"), "wrong one!")
    confirm_link(db.session, alice.user, claims("s9", "alice@example.org"), PASSWORD)
    linked = resolve_identity(db.session, claims("s9", "alice@example.org"), "t").user
    assert linked is not None
    assert linked.id == alice.user.id


def test_a_forged_callback_state_is_refused(make_app: Any) -> None:
    provider = {"name": "lab", "issuer": ISSUER, "client_id": "c", "client_secret": "s"}
    app = make_app("sqlite", OIDC_PROVIDERS=[provider])
    with app.app_context():
        answer = app.test_client().get("/sso/lab/callback?code=abc&state=forged")
        assert answer.status_code == 302
        assert answer.location.startswith("/login")
        (event,) = World.events(EventTag.LOGIN_FAILED)
        assert event.reason == "sso_failed"
