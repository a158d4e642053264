"""Who is acting, for every domain: `Principal` (anonymous by address, or a user by
session, token or the CLI's --as), `SYSTEM` (the operator at the server's shell, and
scheduled work), and the one role check every staff-only action goes through
(`require_role`): the right role, not suspended, and (for the actions that can widen
or stop distribution) a second factor.

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

from dataclasses import dataclass

from distserver.errors import Forbidden, Unauthorized


@dataclass(frozen=True)
class Principal:
    """Who is asking: anonymous (by address), or a user by session or token."""

    address: str
    user_id: int | None = None
    email: str | None = None
    roles: frozenset[str] = frozenset()
    suspended: bool = False
    token_id: int | None = None
    user_agent: str | None = None
    # The user has TOTP enrolled and proved it: in this web session, or in the session
    # that created this API token (CLI actors of an enrolled user count): see the
    # module's docstring.
    second_factor: bool = False

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    @property
    def staff(self) -> bool:
        return bool(self.roles)

    @property
    def quota_subject(self) -> str:
        return f"addr:{self.address}" if self.anonymous else f"user:{self.user_id}"

    @property
    def label(self) -> str:
        return self.email or "anonymous"


# The operator at the server's shell (a CLI command without --as) and the scheduler.
SYSTEM = Principal(address="local", email="system")


def require_signed_in(actor: Principal) -> None:
    """Raise Unauthorized (login_required) for an anonymous actor."""
    if actor.anonymous:
        raise Unauthorized("Sign in or send a Bearer token.", code="login_required")


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
