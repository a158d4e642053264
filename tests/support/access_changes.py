"""The changes to access the fast path must honour at once, each made through the
services as an operator would, for the immediate-effect tests
(tests/integration/test_fast_path_effects.py). `make(case, email)` runs in an app
context; `python -m tests.support.access_changes URL INSTANCE CASE EMAIL` makes the
change from a process of its own, as another gunicorn worker or an operator's CLI
would."""

from __future__ import annotations

import sys
from datetime import timedelta

from distserver.access.organizations import add_member, create_org, sign_agreement
from distserver.access.services import revoke_grants
from distserver.accounts.admin import change_role, suspend_user
from distserver.accounts.models import ApiToken, User
from distserver.accounts.services import principal_for, revoke_token
from distserver.app_runtime import current_runtime
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases.services import demote, halt

# name: (model, status, reason) of the next request's refusal.
CASES: dict[str, tuple[str, int, str]] = {
    "halt": ("acme/h", 403, "halted"),
    "demote": ("acme/d", 403, "stage_closed"),
    "grant revoke": ("acme/llm", 403, "no_grant"),
    "role removal": ("acme/internal", 404, "not_found"),
    "organisation agreement ending": ("acme/llm", 403, "no_grant"),
}
# name: (status, error code) of the next request's refusal.
TOKEN_CASES: dict[str, tuple[int, str]] = {
    "token revoke": (401, "invalid_token"),
    "token expiry": (401, "token_expired"),
    "suspension": (403, "suspended"),
}


def join_partner_org(member: User) -> None:
    """`member` joins a partner organisation whose vetted_partner agreement runs 30 days."""
    tier = current_runtime().tiers["vetted_partner"]
    org = create_org(db.session, "partner-co", "Partner Co", tier, SYSTEM)
    sign_agreement(
        db.session, org, tier, signed_by="CEO", actor=SYSTEM,
        expires_at=utcnow() + timedelta(days=30),
    )  # fmt: skip
    add_member(db.session, org, member, SYSTEM)


def user(email: str) -> User:
    found = db.session.scalar(db.select(User).where(User.email == email))
    assert found is not None
    return found


def model(ref: str) -> Model:
    ns, name = ref.split("/")
    found = db.session.scalar(db.select(Model).where(Model.namespace == ns, Model.name == name))
    assert found is not None
    return found


def make(case: str, email: str) -> None:
    """Make the change named `case` for the person `email` (in an app context)."""
    rt = current_runtime()
    if case == "halt":
        halt(db.session, model("acme/h"), "test", SYSTEM)
    elif case == "demote":
        demote(db.session, model("acme/d"), rt.plans, SYSTEM)
    elif case == "grant revoke":
        revoke_grants(db.session, user(email), rt.tiers["researcher"], None, actor=SYSTEM)
    elif case == "role removal":
        change_role(db.session, user(email), "safety", add=False, actor=SYSTEM)
    elif case == "organisation agreement ending":
        from distserver.access.models import OrgAgreement

        db.session.execute(db.update(OrgAgreement).values(expires_at=utcnow()))
        db.session.commit()
    elif case == "token revoke":
        who = user(email)
        token = db.session.scalar(db.select(ApiToken).where(ApiToken.user_id == who.id))
        assert token is not None
        revoke_token(db.session, who, token.id, principal_for(who, "t"))
    elif case == "token expiry":
        who = user(email)
        db.session.execute(
            db.update(ApiToken)
            .where(ApiToken.user_id == who.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    elif case == "suspension":
        suspend_user(db.session, user(email), SYSTEM)
    else:
        raise ValueError(f"no such change: {case}")


def main(argv: list[str]) -> int:
    from distserver import create_app
    from tests.support.databases import TEST_SECRET

    url, instance, case, email = argv
    app = create_app(
        {
            "ENV": "testing",
            "DATABASE_URL": url,
            "INSTANCE_DIR": instance,
            "SECRET_KEY": TEST_SECRET,
            "STORAGE": "local",
            "TESTING": True,
        }
    )
    with app.app_context():
        make(case, email)
        db.session.remove()
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
