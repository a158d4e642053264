"""Partner organisations. An organisation holds a tier (normally `vetted_partner`);
its members stand in that tier, without a Grant row, while they are members and
the organisation's latest signed agreement is current: not expired, and signed
for the current version (sha256) of the tier's agreement. A new agreement version
therefore suspends every member until an admin records the new signature.

Admins create organisations and record agreements; admins and the organisation's
managers add and remove members. Each write owns its transaction and is audited."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.access.models import Membership, OrgAgreement, Organization
from distserver.access.policy import GrantFacts
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict, Forbidden, NotFound
from distserver.identity import SYSTEM, Principal, require_role

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
ADMIN = frozenset({"admin"})
MEMBER_ROLES = ("member", "manager")


def membership_grants(
    session: Session, user_id: int, tiers: Mapping[str, Tier], now: datetime | None = None
) -> list[GrantFacts]:
    """The tiers the user holds through organisations (for gather_facts)."""
    now = now or utcnow()
    orgs = session.scalars(
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
    )
    facts = []
    for org in orgs:
        signed = current_agreement(session, org, tiers, now)
        if signed is not None:
            facts.append(GrantFacts(org.tier, signed.expires_at))
    return facts


def current_agreement(
    session: Session, org: Organization, tiers: Mapping[str, Tier], now: datetime | None = None
) -> OrgAgreement | None:
    """The organisation's latest signed agreement if it is current, else None."""
    now = now or utcnow()
    latest = session.scalar(
        select(OrgAgreement)
        .where(OrgAgreement.organization_id == org.id)
        .order_by(OrgAgreement.signed_at.desc(), OrgAgreement.id.desc())
        .limit(1)
    )
    tier = tiers.get(org.tier)
    if latest is None or tier is None:
        return None
    if latest.expires_at is not None and latest.expires_at <= now:
        return None
    if tier.agreement is not None and latest.sha256 != tier.agreement.sha256:
        return None
    return latest


def get_org(session: Session, slug: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound(f"No organisation {slug!r}.", code="org_not_found")
    return org


def visible_org(session: Session, slug: str, actor: Principal) -> Organization:
    """The organisation if the actor is an admin or one of its members; otherwise
    NotFound, exactly as for a slug that does not exist."""
    org = session.scalar(select(Organization).where(Organization.slug == slug))
    if org is not None and (ADMIN & actor.roles or _role_in(session, org, actor)):
        return org
    raise NotFound(f"No organisation {slug!r}.", code="org_not_found")


def create_org(
    session: Session, slug: str, name: str, tier: Tier, actor: Principal
) -> Organization:
    require_role(actor, ADMIN, "create organisations", allow_system=True)
    if not SLUG_RE.match(slug):
        raise BadRequest(
            "An organisation slug is 2-63 lowercase letters, digits or '-'.", code="invalid_slug"
        )
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise BadRequest("An organisation needs a name of 1 to 200 characters.")
    if tier.qualification != "organization":
        raise BadRequest(
            f"The {tier.name} tier is not held through organisations.", code="invalid_tier"
        )
    if session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None:
        raise Conflict(f"Organisation {slug!r} exists already.", code="org_exists")
    org = Organization(slug=slug, name=name, tier=tier.name, created_by_id=actor.user_id)
    session.add(org)
    session.flush()
    record(
        session,
        EventTag.ORGANIZATION_CREATED,
        actor,
        tier=tier.name,
        data={"org": slug, "org_id": org.id, "name": name},
    )
    session.commit()
    return org


def sign_agreement(
    session: Session,
    org: Organization,
    tier: Tier,
    *,
    signed_by: str,
    actor: Principal,
    signed_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> OrgAgreement:
    """Record that the organisation signed the current version of its tier's agreement."""
    require_role(actor, ADMIN, "record organisation agreements", allow_system=True)
    if tier.agreement is None:
        raise BadRequest(f"The {tier.name} tier has no agreement to sign.", code="no_agreement")
    signed_by = signed_by.strip()
    if not 1 <= len(signed_by) <= 200:
        raise BadRequest("Name the person who signed (1 to 200 characters).")
    a = tier.agreement
    signed = OrgAgreement(
        organization_id=org.id,
        agreement=a.name,
        version=a.version,
        sha256=a.sha256,
        signed_by=signed_by,
        signed_at=signed_at or utcnow(),
        expires_at=expires_at,
        recorded_by_id=actor.user_id,
    )
    session.add(signed)
    session.flush()
    record(
        session,
        EventTag.ORG_AGREEMENT_SIGNED,
        actor,
        tier=tier.name,
        data={
            "org": org.slug,
            "agreement": a.name,
            "version": a.version,
            "agreement_sha256": a.sha256,
            "signed_by": signed_by,
            "expires_at": expires_at,
        },
    )
    if tier.fingerprint:  # the members now stand in the tier: prepare their copies
        from distserver.fingerprint.planning import plan_after_commit

        plan_after_commit(session)
    session.commit()
    return signed


def add_member(
    session: Session, org: Organization, user: User, actor: Principal, role: str = "member"
) -> Membership:
    _require_manager(session, org, actor)
    if role not in MEMBER_ROLES:
        raise BadRequest(f"A member's role is one of {', '.join(MEMBER_ROLES)}.")
    if role == "manager" and not ADMIN & actor.roles and actor != SYSTEM:
        raise Forbidden("Only admins may name an organisation's managers.", code="forbidden")
    existing = session.scalar(
        select(Membership).where(
            Membership.organization_id == org.id, Membership.user_id == user.id
        )
    )
    if existing is not None:
        raise Conflict(f"{user.email} is a member of {org.slug} already.", code="member_exists")
    membership = Membership(
        organization_id=org.id, user_id=user.id, role=role, added_by_id=actor.user_id
    )
    session.add(membership)
    record(
        session,
        EventTag.MEMBERSHIP_ADDED,
        actor,
        tier=org.tier,
        data={"org": org.slug, "user": user.email, "role": role},
    )
    from distserver.fingerprint.planning import plan_after_commit

    plan_after_commit(session, user_id=user.id)  # marked copies, if the tier asks for them
    session.commit()
    return membership


def remove_member(session: Session, org: Organization, user: User, actor: Principal) -> None:
    """Remove the user; they lose the organisation's tier on their next request."""
    _require_manager(session, org, actor)
    membership = session.scalar(
        select(Membership).where(
            Membership.organization_id == org.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        raise NotFound(f"{user.email} is not a member of {org.slug}.", code="member_not_found")
    session.delete(membership)
    record(
        session,
        EventTag.MEMBERSHIP_REMOVED,
        actor,
        tier=org.tier,
        data={"org": org.slug, "user": user.email, "role": membership.role},
    )
    session.commit()


def change_member_role(
    session: Session, org: Organization, user: User, role: str, actor: Principal
) -> Membership:
    """Make a member a manager or a manager a plain member (admins only, as naming
    managers at addition is)."""
    require_role(actor, ADMIN, "name an organisation's managers", allow_system=True)
    if role not in MEMBER_ROLES:
        raise BadRequest(f"A member's role is one of {', '.join(MEMBER_ROLES)}.")
    membership = session.scalar(
        select(Membership).where(
            Membership.organization_id == org.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        raise NotFound(f"{user.email} is not a member of {org.slug}.", code="member_not_found")
    if membership.role == role:
        return membership
    membership.role = role
    record(
        session,
        EventTag.MEMBERSHIP_ROLE_CHANGED,
        actor,
        tier=org.tier,
        data={"org": org.slug, "user": user.email, "role": role},
    )
    session.commit()
    return membership


def list_orgs(session: Session) -> list[tuple[Organization, int]]:
    """Every organisation with its number of members, by slug (one query)."""
    count = (
        select(func.count(Membership.id))
        .where(Membership.organization_id == Organization.id)
        .scalar_subquery()
    )
    rows = session.execute(select(Organization, count).order_by(Organization.slug))
    return [(org, n) for org, n in rows]


def agreements(session: Session, org: Organization) -> list[OrgAgreement]:
    """Every agreement recorded for the organisation, latest first."""
    return list(
        session.scalars(
            select(OrgAgreement)
            .where(OrgAgreement.organization_id == org.id)
            .order_by(OrgAgreement.signed_at.desc(), OrgAgreement.id.desc())
        )
    )


def members(session: Session, org: Organization) -> list[tuple[Membership, User]]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == org.id)
        .order_by(User.email)
    )
    return [(m, u) for m, u in rows]


def _role_in(session: Session, org: Organization, actor: Principal) -> str | None:
    if actor.user_id is None:
        return None
    return session.scalar(
        select(Membership.role).where(
            Membership.organization_id == org.id, Membership.user_id == actor.user_id
        )
    )


def _require_manager(session: Session, org: Organization, actor: Principal) -> None:
    if actor == SYSTEM:
        return  # the operator at the server's shell
    if actor.suspended:
        raise Forbidden("Your account is suspended.", code="forbidden")
    if ADMIN & actor.roles or _role_in(session, org, actor) == "manager":
        return
    raise Forbidden(
        f"Only admins and managers of {org.slug} may change its members.", code="forbidden"
    )
