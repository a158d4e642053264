"""Admin actions on accounts: staff roles and suspension. Both need an admin with a
second factor (or the operator at the server's shell) and are audit events."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.accounts.models import STAFF_ROLES, User, UserRole
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict
from distserver.identity import Principal, require_role

ADMIN = frozenset({"admin"})


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def search_users(session: Session, text: str = "", limit: int = 100) -> list[User]:
    """Users whose e-mail contains `text` (any case), by e-mail, at most `limit`."""
    query = select(User).order_by(User.email).limit(limit)
    text = text.strip().lower()
    if text:
        # autoescape: a "%" or "_" typed in the box is matched as itself.
        query = query.where(func.lower(User.email).contains(text, autoescape=True))
    return list(session.scalars(query))


def change_role(session: Session, user: User, role: str, *, add: bool, actor: Principal) -> None:
    """Add or remove one staff role."""
    require_role(actor, ADMIN, "change roles", allow_system=True, second_factor=True)
    if role not in STAFF_ROLES:
        raise BadRequest(f"Unknown role {role!r}; roles are {', '.join(STAFF_ROLES)}.")
    held = role in user.role_names
    if add == held:
        return
    if not add and role == "admin" and actor.user_id == user.id:
        raise Conflict("Admins cannot remove their own admin role.", code="self_demotion")
    if add:
        user.roles.append(UserRole(role=role))
    else:
        user.roles = [r for r in user.roles if r.role != role]
    record(
        session,
        EventTag.ROLE_CHANGED,
        actor,
        data={"email": user.email, "role": role, "change": "added" if add else "removed"},
    )
    session.commit()


def suspend_user(session: Session, user: User, actor: Principal, reason: str = "") -> None:
    """Suspend: every session and token of the user stops working on its next request
    (the session version is bumped; tokens check the suspension)."""
    require_role(actor, ADMIN, "suspend users", allow_system=True, second_factor=True)
    if actor.user_id == user.id:
        raise Conflict("You cannot suspend yourself.", code="self_suspension")
    if user.suspended_at is not None:
        raise Conflict(f"{user.email} is already suspended.", code="already_suspended")
    user.suspended_at = utcnow()
    user.session_version += 1
    record(
        session,
        EventTag.USER_SUSPENDED,
        actor,
        data={"email": user.email, "reason": reason.strip()[:200], "change": "suspended"},
    )
    session.commit()


def unsuspend_user(session: Session, user: User, actor: Principal) -> None:
    require_role(actor, ADMIN, "lift suspensions", allow_system=True, second_factor=True)
    if user.suspended_at is None:
        raise Conflict(f"{user.email} is not suspended.", code="not_suspended")
    user.suspended_at = None
    record(session, EventTag.USER_SUSPENDED, actor, data={"email": user.email, "change": "lifted"})
    session.commit()
