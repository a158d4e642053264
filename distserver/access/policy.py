"""The one policy function that decides every download, whichever door the request
came through. It is pure: it reads the facts it is given and touches nothing else
(no Flask, no database, no clock of its own)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from distserver.access.tiers import Tier
from distserver.identity import Principal

# Staff who may download at any stage (to evaluate the model before release).
DOWNLOAD_STAFF_ROLES = frozenset({"admin", "safety"})
STAFF_TIER = "staff"
STAFF_LINK_TTL = 300

REASONS = (
    "not_found",
    "login_required",
    "stage_closed",
    "no_grant",
    "grant_expired",
    "agreement_required",
    "quota_exceeded",
    "halted",
    "suspended",
)


@dataclass(frozen=True)
class ModelFacts:
    ref: str
    stage: str
    admitted_tiers: tuple[str, ...]
    halted: bool = False


@dataclass(frozen=True)
class GrantFacts:
    tier: str
    expires_at: datetime | None


@dataclass(frozen=True)
class AccessFacts:
    """What the principal holds, gathered by the caller for this one decision."""

    grants: tuple[GrantFacts, ...] = ()
    # Agreement sha256s the principal has accepted.
    accepted: frozenset[str] = frozenset()
    # Links already issued today, per tier.
    used_today: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None
    message: str = ""
    tier: str | None = None
    link_ttl: int = 0
    # For not_found: which part is missing ("model", "revision" or "file").
    missing: str | None = None
    quota: int | None = None
    # A tier an application could cure this refusal with (no grant or an expired
    # one): the doors turn it into the application's URL.
    apply_tier: str | None = None

    @classmethod
    def deny(cls, reason: str, message: str, **kw: object) -> Decision:
        assert reason in REASONS
        return cls(False, reason, message, **kw)  # type: ignore[arg-type]


# Refusals that still leave a model's file list visible: nothing about the caller's
# standing is wrong, only this one request (a spent quota, a missing file).
LISTING_REFUSALS = frozenset({"quota_exceeded", "not_found"})


def lists_files(decision: Decision) -> bool:
    """Whether the caller may see a model's file list (paths, sizes, sha256), given
    their standing on it (`decision`, for the model as a whole): only when its stage
    admits them and nothing else stands in the way (no grant, an agreement not yet
    accepted, a halt and a suspension all hide it). The model page, the native API's
    model detail and the Hugging Face model info and tree all ask this, so they agree."""
    return decision.allowed or decision.reason in LISTING_REFUSALS


def may_see(principal: Principal, model: ModelFacts | None) -> bool:
    """A model whose stage admits no tier is visible to staff only."""
    return model is not None and (bool(model.admitted_tiers) or principal.staff)


def decide(
    principal: Principal,
    model: ModelFacts | None,
    revision: str | None,
    path: str | None,
    now: datetime,
    *,
    tiers: Mapping[str, Tier],
    facts: AccessFacts,
    file_exists: bool = True,
) -> Decision:
    """May `principal` download `path` of `revision` of `model` at `now`?

    `model` is None when no such model exists; `revision` is None when the asked-for
    revision does not exist; `file_exists` says whether the path is in the revision.
    A model the principal may not see is answered exactly as one that does not exist.
    Allowed decisions carry the tier and link lifetime; refusals a reason code from
    REASONS and a sentence for people.
    """
    if not may_see(principal, model):
        return Decision.deny("not_found", "No such model.", missing="model")
    assert model is not None
    if revision is None:
        return Decision.deny("not_found", f"{model.ref} has no such revision.", missing="revision")
    if path is None or not file_exists:
        return Decision.deny("not_found", f"{model.ref} has no file {path!r}.", missing="file")
    if principal.suspended:
        return Decision.deny("suspended", "Your account is suspended.")
    if model.halted:
        return Decision.deny("halted", f"Distribution of {model.ref} is halted.")
    if principal.roles & DOWNLOAD_STAFF_ROLES:
        return Decision(True, tier=STAFF_TIER, link_ttl=STAFF_LINK_TTL)

    admitted = sorted(
        (tiers[t] for t in model.admitted_tiers if t in tiers), key=lambda t: -t.priority
    )
    refusals: list[Decision] = []
    for tier in admitted:
        outcome = _qualify(principal, tier, model, now, facts)
        if outcome is None:
            return _within_quota(tier, facts, model)
        refusals.append(outcome)
    if not admitted:
        return Decision.deny("stage_closed", f"{model.ref} is not open to any tier yet.")
    held = {g.tier for g in facts.grants if g.expires_at is None or g.expires_at > now}
    if held and not held & set(model.admitted_tiers):
        names = ", ".join(sorted(_title(tiers, t) for t in held))
        return Decision.deny(
            "stage_closed",
            f"{model.ref} is at stage {model.stage}, which does not admit your tier ({names}) yet.",
        )
    # The most helpful refusal: the one closest to access.
    order = ("agreement_required", "grant_expired", "login_required", "no_grant")
    best = min(refusals, key=lambda d: order.index(d.reason or "no_grant"))
    if best.reason == "no_grant":
        names = " or ".join(t.title for t in admitted if t.qualification != "open")
        best = Decision.deny(
            "no_grant", f"To download {model.ref} you need a grant in the {names} tier."
        )
    if best.reason in CURABLE_BY_APPLYING:
        applicable = [t.name for t in admitted if t.qualification == "application"]
        if applicable:
            return replace(best, apply_tier=applicable[0])
    return best


# Refusals an application for an admitted tier can cure (signing in comes first:
# login_required says so and nothing more).
CURABLE_BY_APPLYING = frozenset({"no_grant", "grant_expired"})


def _title(tiers: Mapping[str, Tier], name: str) -> str:
    return tiers[name].title if name in tiers else name


def _qualify(
    principal: Principal, tier: Tier, model: ModelFacts, now: datetime, facts: AccessFacts
) -> Decision | None:
    """None if the principal stands in `tier`; otherwise why not."""
    if principal.anonymous and tier.login_required:
        return Decision.deny("login_required", f"Sign in to download {model.ref}.")
    if tier.qualification != "open":
        grants = [g for g in facts.grants if g.tier == tier.name]
        if not any(g.expires_at is None or g.expires_at > now for g in grants):
            if grants:
                return Decision.deny(
                    "grant_expired", f"Your {tier.title} grant for {model.ref} has expired."
                )
            return Decision.deny(
                "no_grant", f"To download {model.ref} you need a grant in the {tier.title} tier."
            )
    # The tier's agreement and the model's own, each in its current version.
    for agreement in tier.agreements_for(model.ref):
        if agreement.sha256 not in facts.accepted:
            return Decision.deny(
                "agreement_required",
                f"Accept the {agreement.name} agreement (version {agreement.version}) "
                f"to download {model.ref}.",
            )
    return None


def _within_quota(tier: Tier, facts: AccessFacts, model: ModelFacts) -> Decision:
    used = facts.used_today.get(tier.name, 0)
    if tier.daily_quota is not None and used >= tier.daily_quota:
        return Decision.deny(
            "quota_exceeded",
            f"You have used today's {tier.daily_quota} downloads in the {tier.title} tier.",
            tier=tier.name,
            quota=tier.daily_quota,
        )
    return Decision(True, tier=tier.name, link_ttl=tier.link_ttl, quota=tier.daily_quota)
