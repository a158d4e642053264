"""The world the authorization matrix runs in: one model per stage of the default plan
(plus a halted one), and one principal of each kind with a token."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from distserver.access import applications
from distserver.access.models import Grant
from distserver.accounts.models import ApiToken
from distserver.accounts.services import create_token, principal_for
from distserver.app_runtime import current_runtime
from distserver.db import utcnow
from distserver.downloads.services import locate, request_link
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases.services import halt
from tests.support.world import World

# ref -> (stage, halted)
MODELS = {
    "acme/internal": ("internal", False),
    "acme/partners": ("partner-preview", False),
    "acme/research": ("research-access", False),
    "acme/ga": ("general-availability", False),
    "acme/halted": ("research-access", True),
}
PRINCIPALS = (
    "anonymous",
    "public_user",
    "researcher",
    "partner",
    "reviewer",
    "safety",
    "auditor",
    "admin",
    "suspended",
    "expired_token",
    "revoked_token",
    # Staff with an enrolled second factor whose token was minted by a session that
    # had not proved it (or before tokens recorded it): staff in every way except
    # the actions that need the factor.
    "safety_unproved",
    "admin_unproved",
)
# The staff role each unproved principal otherwise stands for.
UNPROVED = {"safety_unproved": "safety", "admin_unproved": "admin"}


@dataclass
class Seeded:
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)


def seed(world: World) -> Seeded:
    out = Seeded()
    for ref, (stage, halted) in MODELS.items():
        model = world.model(ref, stage=None if stage == "internal" else stage)
        if halted:
            halt(db.session, model, "matrix", SYSTEM)
    people = {
        "public_user": world.person("public@x.org"),
        "researcher": world.person("researcher@x.org", tiers=("researcher",)),
        "partner": world.person("partner@x.org", tiers=("vetted_partner",)),
        "reviewer": world.person("reviewer@x.org", roles=("reviewer",)),
        "safety": world.person("safety@x.org", roles=("safety",)),
        "auditor": world.person("auditor@x.org", roles=("auditor",)),
        "admin": world.person("admin@x.org", roles=("admin",)),
        "suspended": world.person("suspended@x.org", tiers=("researcher",)),
        "expired_token": world.person("expired@x.org", tiers=("researcher",)),
        "revoked_token": world.person("revoked@x.org", tiers=("researcher",)),
        "safety_unproved": world.person("safety2@x.org", roles=("safety",)),
        "admin_unproved": world.person("admin2@x.org", roles=("admin",)),
    }
    out.headers["anonymous"] = {}
    for kind, person in people.items():
        # Every token may read and manage: the matrix tests roles and stages, not scopes.
        # Tokens are minted as by a session that proved the user's second factor, but
        # the unproved principals' are minted as by a session that did not (a read
        # token: such a session may not mint a manage one, so the scope is widened
        # below, as a token from before tokens recorded the factor would have it).
        unproved = kind in UNPROVED
        raw = create_token(
            db.session,
            person.user,
            name="matrix",
            scopes=("read",) if unproved else ("read", "manage"),
            second_factor=not unproved,
        ).raw
        out.headers[kind] = {"Authorization": f"Bearer {raw}"}
    db.session.execute(
        db.update(ApiToken)
        .where(ApiToken.user_id.in_([people[k].user.id for k in UNPROVED]))
        .where(ApiToken.name == "matrix")
        .values(scopes="manage read")
    )
    now = utcnow()
    people["suspended"].user.suspended_at = now
    db.session.execute(
        db.update(ApiToken)
        .where(ApiToken.user_id == people["expired_token"].user.id)
        .values(expires_at=now - timedelta(minutes=1))
    )
    db.session.execute(
        db.update(ApiToken)
        .where(ApiToken.user_id == people["revoked_token"].user.id)
        .values(revoked_at=now)
    )
    db.session.commit()
    # Objects owned by the researcher, for the object-level (IDOR) rows.
    researcher = people["researcher"].user
    rt = current_runtime()
    who = principal_for(researcher, "127.0.0.1")
    target = locate(db.session, "acme", "research", "main", "config.json")
    link = request_link(
        db.session, rt, who, target, door="api", base_url="http://localhost/", path="config.json"
    )
    out.ids["link"] = link.link_id
    public = people["public_user"].user
    tier = rt.tiers["researcher"]
    application = applications.submit(
        db.session,
        rt.tiers,
        public,
        target.model,
        "researcher",
        {f.name: "matrix" for f in tier.form},
        actor=principal_for(public, "127.0.0.1"),
        agreement_sha256=tier.agreement.sha256 if tier.agreement else None,
    )
    out.ids["application"] = application.id
    out.ids["grant"] = db.session.scalar(db.select(Grant.id).where(Grant.user_id == researcher.id))
    out.ids["admin_user"] = people["admin"].user.id
    out.ids["researcher_user"] = researcher.id
    return out
