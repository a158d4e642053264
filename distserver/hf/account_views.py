"""`GET /api/whoami-v2`: who the Bearer token belongs to, in the Hub's shape, so that
`hf auth login --token` stores our token and `hf auth whoami` names its user.

`name` is the account's e-mail address (our unique user name); `orgs` are the
organisations the user belongs to; the token's `role` is "read" for a read-only
token and "write" for one with the manage scope."""

from __future__ import annotations

from flask import Response, jsonify
from sqlalchemy import select

from distserver.access.models import Membership, Organization
from distserver.accounts.models import ApiToken, User
from distserver.accounts.sessions import current_principal
from distserver.errors import Unauthorized
from distserver.extensions import db
from distserver.hf import hf
from distserver.hf.shapes import WhoAmI


@hf.get("/api/whoami-v2")
def whoami_view() -> Response:
    principal = current_principal()
    if principal.anonymous or principal.token_id is None:
        raise Unauthorized("whoami needs a distserver API token.", code="invalid_token")
    user = db.session.get(User, principal.user_id)
    token = db.session.get(ApiToken, principal.token_id)
    assert user is not None
    assert token is not None
    orgs = db.session.execute(
        select(Organization.slug, Organization.name)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user.id)
        .order_by(Organization.slug)
    )
    answer: WhoAmI = {
        "type": "user",
        "id": str(user.id),
        "name": user.email,
        "fullname": user.display_name or user.email,
        "email": user.email,
        "emailVerified": user.email_verified_at is not None,
        "isPro": False,
        "orgs": [{"type": "org", "name": slug, "fullname": title} for slug, title in orgs],
        "auth": {
            "type": "access_token",
            "accessToken": {
                "displayName": token.name,
                "role": "write" if "manage" in token.scopes.split() else "read",
            },
        },
    }
    return jsonify(answer)
