"""The one check every staff-only action goes through: the right role, not suspended,
and (for the actions that can widen or stop distribution) a second factor."""

from __future__ import annotations

from distserver.access.policy import Principal
from distserver.audit.service import SYSTEM
from distserver.errors import Forbidden


def require_role(
    actor: Principal, roles: frozenset[str], what: str, *, allow_system: bool = False
) -> None:
    """Raise Forbidden unless `actor` is a live user holding one of `roles`.

    `allow_system` lets the operator at the server's shell (a CLI command without
    --as) act, for emergency actions such as halting."""
    if allow_system and actor == SYSTEM:
        return
    if actor.user_id is None or actor.suspended or not actor.roles & roles:
        names = " or ".join(sorted(roles))
        raise Forbidden(f"Only {names} staff may {what}.", code="forbidden")
