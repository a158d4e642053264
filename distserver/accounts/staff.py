"""The one check every staff-only action goes through: the right role, not suspended,
and (for the actions that can widen or stop distribution) a second factor.

What counts as a second factor (`Principal.second_factor`, set by
`accounts.services.principal_for` and `accounts.sessions.current_principal`):
- a web session: the user has TOTP enrolled AND entered a code (or a recovery code)
  in this session, at sign-in or at enrolment;
- an API token: the user has TOTP enrolled AND the token was created by a session
  that had proved it (or by an operator at the server's shell, `distserver tokens
  create`, for an enrolled user). A token carries no more assurance than its
  session: one minted from a session restored by the remember cookie has none, and
  such a session may not mint a `manage` token at all (accounts/services.py);
- a CLI `--as` actor: the user has TOTP enrolled (the operator at the shell vouches).

Actions that need it: promote, demote, halt, resume, approve, role changes,
suspensions, the gate evidence (evaluations and sign-offs), and from the console
pages creating a model, editing its card, adding or extending a grant.
"""

from __future__ import annotations

from distserver.access.policy import Principal
from distserver.audit.service import SYSTEM
from distserver.errors import Forbidden


def require_role(
    actor: Principal,
    roles: frozenset[str],
    what: str,
    *,
    allow_system: bool = False,
    second_factor: bool = False,
) -> None:
    """Raise Forbidden unless `actor` is a live user holding one of `roles` (and,
    with `second_factor`, one who has proved a second factor).

    `allow_system` lets the operator at the server's shell (a CLI command without
    --as) act, for emergency actions such as halting."""
    if allow_system and actor == SYSTEM:
        return
    if actor.user_id is None or actor.suspended or not actor.roles & roles:
        names = " or ".join(sorted(roles))
        raise Forbidden(f"Only {names} staff may {what}.", code="forbidden")
    if second_factor:
        require_second_factor(actor, what)


def require_second_factor(actor: Principal, what: str) -> None:
    """Raise Forbidden (code `second_factor_required`) unless the actor proved a TOTP."""
    if not actor.second_factor:
        raise Forbidden(
            f"To {what} you need a second factor: enrol an authenticator app on your "
            "account page, then sign in again with its code.",
            code="second_factor_required",
        )
