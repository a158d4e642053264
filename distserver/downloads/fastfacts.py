"""Everything the policy needs for one token-authenticated link, in one statement:
the token, its user and roles, the model and its release state, the revision and the
file, the user's live grants on the model, accepted agreement versions, the latest
agreement of each organisation the user belongs to, and today's quota counters.

The rows are turned into the same `Principal`, `ModelFacts` and `AccessFacts` that
the ORM path builds (accounts.services.principal_for, releases.services.model_facts,
access.services.gather_facts with organizations.membership_grants), so `decide()`
sees the same facts whichever path gathered them. `Gathered.full_path` names why a
request must take the full path instead (and the fast path then writes nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from distserver.access.policy import AccessFacts, GrantFacts, ModelFacts
from distserver.access.tiers import Tier
from distserver.catalog.names import COMMIT_RE
from distserver.identity import Principal
from distserver.releases.plans import Plan

# One parameterised statement per door; the user's part is the same in both.
_PER_USER = """
SELECT tok.id, tok.user_id, tok.scopes, tok.expires_at, tok.revoked_at, tok.last_used_at,
       tok.email, tok.suspended, tok.totp, tok.roles,
       tgt.model_id, tgt.namespace, tgt.name, tgt.plan, tgt.stage, tgt.halted,
       tgt.revision_id, tgt.commit, tgt.path, tgt.size, tgt.sha256, tgt.extra,
       (SELECT coalesce(json_agg(json_build_array(g.tier, g.expires_at)), '[]')
          FROM grants g
         WHERE g.user_id = tok.user_id AND g.revoked_at IS NULL
           AND (g.model_id IS NULL OR g.model_id = tgt.model_id)) AS grants,
       ARRAY(SELECT a.sha256 FROM agreement_acceptances a
              WHERE a.user_id = tok.user_id) AS accepted,
       (SELECT coalesce(json_agg(json_build_array(o.tier, la.expires_at, la.sha256)), '[]')
          FROM memberships ms
          JOIN organizations o ON o.id = ms.organization_id
          JOIN LATERAL (SELECT oa.expires_at, oa.sha256 FROM org_agreements oa
                         WHERE oa.organization_id = o.id
                         ORDER BY oa.signed_at DESC, oa.id DESC LIMIT 1) la ON TRUE
         WHERE ms.user_id = tok.user_id) AS orgs,
       (SELECT coalesce(json_object_agg(q.tier, q.used), '{}') FROM quota_counters q
         WHERE q.subject = 'user:' || tok.user_id AND q.day = %(day)s) AS used,
       (SELECT v.version FROM access_version v WHERE v.id = 1) AS version
  FROM (SELECT t.id, t.user_id, t.scopes, t.expires_at, t.revoked_at, t.last_used_at,
               u.email, u.suspended_at IS NOT NULL AS suspended,
               (u.totp_enabled_at IS NOT NULL AND u.totp_secret IS NOT NULL) AS totp,
               ARRAY(SELECT r.role FROM user_roles r WHERE r.user_id = u.id) AS roles
          FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = %(token_hash)s) tok
  LEFT JOIN ({target}) tgt ON TRUE
"""

# The model by name, its newest revision ("main") or the one asked for, the file.
_BY_NAME = """
SELECT m.id AS model_id, m.namespace, m.name, m.plan, s.stage,
       s.halted_at IS NOT NULL AS halted, r.id AS revision_id, r.commit,
       f.path, f.size, f.sha256, NULL::timestamptz AS extra
  FROM models m
  JOIN release_states s ON s.model_id = m.id
  LEFT JOIN LATERAL (SELECT r.id, r.commit FROM revisions r
                      WHERE r.model_id = m.id
                        AND (%(main)s OR r.commit = %(commit)s)
                      ORDER BY r.id DESC LIMIT 1) r ON TRUE
  LEFT JOIN files f ON f.revision_id = r.id AND f.path = %(path)s
 WHERE m.namespace = %(namespace)s AND m.name = %(name)s
"""

# A /dl/ link's model, revision and file; `extra` is the link's creation time and the
# link's owner is checked by the caller.
_BY_LINK = """
SELECT m.id AS model_id, m.namespace, m.name, m.plan, s.stage,
       s.halted_at IS NOT NULL AS halted, r.id AS revision_id, r.commit,
       l.path, f.size, f.sha256, l.created_at AS extra, l.user_id AS owner
  FROM download_links l
  JOIN models m ON m.id = l.model_id
  JOIN release_states s ON s.model_id = m.id
  JOIN revisions r ON r.id = l.revision_id
  LEFT JOIN files f ON f.revision_id = r.id AND f.path = l.path
 WHERE l.id = %(link_id)s
"""

# The statement's row is the facts, then the access version they were read at
# (downloads.fastcache); `gathered` reads the facts alone. Where two facts sit in it:
LAST_USED_AT = 5  # the token's last use (moved when a statement touches the token)
USED_TODAY = -1  # today's quota counters, {tier: used}

BY_NAME_SQL = _PER_USER.replace("{target}", _BY_NAME)
BY_LINK_SQL = _PER_USER.replace("{target}", _BY_LINK).replace(
    "tgt.extra,", "tgt.extra, tgt.owner,", 1
)


def names_main_or_commit(rev: str | None) -> bool:
    """Whether `rev` is one the facts query resolves itself: main, or a 40-hex commit."""
    return rev in (None, "", "main") or bool(rev and COMMIT_RE.match(rev))


def by_name_params(
    token_hash: str, namespace: str, name: str, rev: str | None, path: str, day: str
) -> dict[str, Any]:
    main = rev in (None, "", "main")
    # Neither "main" nor a 40-hex commit: no revision matches (as resolve_revision).
    commit = rev if not main and rev is not None and COMMIT_RE.match(rev) else ""
    return {
        "token_hash": token_hash,
        "namespace": namespace,
        "name": name,
        "main": main,
        "commit": commit,
        "path": path,
        "day": day,
    }


@dataclass(frozen=True)
class Gathered:
    """The facts of one request, or why it must take the full path."""

    full_path: str | None = None
    principal: Principal | None = None
    model: ModelFacts | None = None
    model_id: int | None = None
    revision_id: int | None = None
    commit: str | None = None
    path: str | None = None
    size: int | None = None
    sha256: str | None = None
    access: AccessFacts | None = None
    token_id: int | None = None
    touch_token: bool = False
    created_at: datetime | None = None  # a /dl/ link's creation time
    owner: int | None = None  # a /dl/ link's owner


def gathered(
    row: tuple[Any, ...] | None,
    *,
    address: str,
    user_agent: str | None,
    now: datetime,
    tiers: Mapping[str, Tier],
    plans: Mapping[str, Plan],
    scope: str,
    touch_after_seconds: float,
) -> Gathered:
    """The facts from the statement's row, less its last column, the access version
    (None: no such token)."""
    if row is None:
        return Gathered(full_path="token")  # the full path says why, in its words
    (token_id, user_id, scopes, expires_at, revoked_at, last_used_at) = row[0:6]
    (email, suspended, totp, roles) = row[6:10]
    if revoked_at is not None or (expires_at is not None and expires_at <= now):
        return Gathered(full_path="token")
    if suspended or scope not in scopes.split():
        return Gathered(full_path="token")
    principal = Principal(
        address=address,
        user_id=user_id,
        email=email,
        roles=frozenset(roles),
        suspended=False,
        token_id=token_id,
        user_agent=user_agent,
        second_factor=bool(totp),
    )
    touch = last_used_at is None or (now - last_used_at).total_seconds() > touch_after_seconds
    (model_id, namespace, name, plan_name, stage_name, halted) = row[10:16]
    (revision_id, commit, path, size, sha256, extra) = row[16:22]
    owner = row[22] if len(row) > 26 else None
    grants, accepted, orgs, used = row[-4:]
    common: dict[str, Any] = {"principal": principal, "token_id": token_id, "touch_token": touch}
    if model_id is None:
        return Gathered(**common)
    plan = plans[plan_name]
    if _embargo_due(plan, stage_name, halted, now):
        return Gathered(full_path="embargo")  # the full path opens the stage first
    stage = plan.stage(stage_name)
    model = ModelFacts(f"{namespace}/{name}", stage.name, stage.tiers, halted=bool(halted))
    held = tuple(GrantFacts(t, _when(e)) for t, e in grants)
    held += tuple(_org_grants(orgs, tiers, now))
    return Gathered(
        **common,
        model=model,
        model_id=model_id,
        revision_id=revision_id,
        commit=commit,
        path=path,
        size=size,
        sha256=sha256,
        access=AccessFacts(grants=held, accepted=frozenset(accepted), used_today=used),
        created_at=extra,
        owner=owner,
    )


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


def _org_grants(
    orgs: list[list[Any]], tiers: Mapping[str, Tier], now: datetime
) -> list[GrantFacts]:
    """As organizations.membership_grants: an organisation's tier is held while its
    latest signed agreement has not expired and is the tier's current version."""
    held = []
    for tier_name, expires, sha256 in orgs:
        tier = tiers.get(tier_name)
        expires_at = _when(expires)
        if tier is None or (expires_at is not None and expires_at <= now):
            continue
        if tier.agreement is not None and sha256 != tier.agreement.sha256:
            continue
        held.append(GrantFacts(tier_name, expires_at))
    return held


def _embargo_due(plan: Plan, stage: str, halted: bool, now: datetime) -> bool:
    # As releases.services._embargo_passed: a next stage whose embargo time passed.
    target = plan.next_stage(stage)
    return (
        target is not None
        and target.gate.not_before is not None
        and target.gate.not_before <= now
        and not halted
    )
