"""The download fast path: a token-authenticated link request on PostgreSQL in two
round trips, one statement each, or one when the facts are cached (no ORM, no
BEGIN/COMMIT, no pre-ping):

1. gather every fact the policy reads in one query (downloads.fastfacts), or take
   them from this process's cache (downloads.fastcache);
2. decide with the one policy, `access.policy.decide`, unchanged;
3. write the outcome in one durable statement (downloads.fastissue): the counted
   quota, the link row and its event, or the refusal event, only if no access
   change was committed since the facts were read (else: nothing, the full path);
4. only then sign the URL (no read after the commit).

It serves the same answers and records the same events as downloads.services (the
full path), and hands over to it, having written nothing, whenever a request needs
what only the full path does: a token that is not live (the full path says why),
a stage whose embargo has fallen due (the full path opens it), a fingerprinted tier
(the recipient's marked copy), or any database other than PostgreSQL.
"""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, request

from distserver.access.policy import AccessFacts, Decision, decide
from distserver.accounts import tokens
from distserver.accounts.services import LAST_USED_RESOLUTION
from distserver.app_runtime import Runtime
from distserver.audit.service import event_values
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.downloads import fastcache, fastdb, fastfacts, fastissue
from distserver.downloads.records import issue_data, link_outcome, refusal_data
from distserver.downloads.services import DL_LINK_LIFETIME, AccessDenied
from distserver.downloads.signing import IssuedLink, Served, signed_link
from distserver.errors import NotFound
from distserver.extensions import limiter
from distserver.fingerprint.copies import is_weights
from distserver.identity import Principal
from distserver.observability.metrics import timed_fast_link
from distserver.storage.base import blob_key

# A /dl/ link id is 22 characters; anything longer names no link.
MAX_LINK_ID = 32
# The views that try the fast path first.
FAST_ENDPOINTS = frozenset({"api_v1.create_link", "hf.resolve_view", "downloads.follow_link"})


def bearer_token(app: Flask, authorization: str | None) -> str | None:
    """The raw token when this request may take the fast path: the fast path is on,
    the database is PostgreSQL, and the request carries a well-formed Bearer token.
    Anything else (including a malformed header) is the full path's to answer."""
    if not authorization or not app.config.get("DOWNLOAD_FAST_PATH", True):
        return None
    if not str(app.config.get("DATABASE_URL", "")).startswith("postgresql"):
        return None
    kind, _, raw = authorization.partition(" ")
    raw = raw.strip()
    if kind.lower() != "bearer" or not tokens.well_formed(raw):
        return None
    return raw


BEARER_KEY = "distserver.fastpath.bearer"


def request_token() -> str | None:
    """`bearer_token` for the current request, worked out once per request."""
    environ = request.environ
    if BEARER_KEY not in environ:
        environ[BEARER_KEY] = bearer_token(current_app, request.headers.get("Authorization"))
    return environ[BEARER_KEY]


@limiter.request_filter
def _no_limiter_work() -> bool:
    """Flask-Limiter resolves nothing for a fast-path request: the only limit on the
    link doors is the anonymous budget, which token callers are exempt from (their
    tier's quota holds them), so resolving it per request is pure overhead."""
    return request.endpoint in FAST_ENDPOINTS and request_token() is not None


class _Request:
    """One fast-path request: its facts, decision and writes."""

    def __init__(
        self,
        conn: fastdb.Connection,
        rt: Runtime,
        door: str,
        address: str,
        ua: str | None,
    ):
        self.conn, self.rt, self.door = conn, rt, door
        self.address, self.user_agent = address, ua
        self.now = utcnow()
        self.day = self.now.date().isoformat()
        self.entry: fastcache.Entry | None = None  # the facts' row and version

    def gather(self, sql: str, params: dict[str, Any], *, cached: bool) -> fastfacts.Gathered:
        """The facts, from the cache when `cached` and warm, else from the query. Facts
        that send the request to the full path are not kept: the full path may change
        them (open an embargoed stage) and the cached row would never be checked."""
        key = (self.conn.url, sql, *params.values())
        entry = fastcache.get(key) if cached else None
        if entry is None:
            found = self.conn.fetch_one(sql, params, read_only=True)
            if found is not None:
                entry = fastcache.Entry(version=found[-1], row=found[:-1])
        g = fastfacts.gathered(
            entry.row if entry is not None else None,
            address=self.address,
            user_agent=self.user_agent,
            now=self.now,
            tiers=self.rt.tiers,
            plans=self.rt.plans,
            scope="read",
            touch_after_seconds=LAST_USED_RESOLUTION.total_seconds(),
        )
        if entry is not None and cached:
            if g.full_path:
                fastcache.drop(key)
            else:
                fastcache.put(key, entry)
        self.entry = entry
        return g

    def _wrote(self, g: fastfacts.Gathered, row: tuple[Any, ...] | None) -> bool:
        """Whether the writing statement found the facts' version (so it wrote), and
        if so the cached row brought up to what it wrote; if not, the cache is dropped."""
        assert row is not None
        assert self.entry is not None
        if not row[1]:
            fastcache.clear()
            return False
        if g.touch_token:
            self.entry.row = fastcache.replaced(self.entry.row, fastfacts.LAST_USED_AT, self.now)
        return True

    def _count(self, tier: str, used: int) -> None:
        """Remember the counter's value the upsert left (or found full)."""
        assert self.entry is not None
        counts = {**self.entry.row[fastfacts.USED_TODAY], tier: used}
        self.entry.row = fastcache.replaced(self.entry.row, fastfacts.USED_TODAY, counts)

    def decide(self, g: fastfacts.Gathered, path: str | None) -> Decision:
        assert g.principal is not None
        return decide(
            g.principal,
            g.model,
            g.commit,
            path,
            self.now,
            tiers=self.rt.tiers,
            facts=g.access or AccessFacts(),
            file_exists=g.size is not None,
        )

    def _touch(self, g: fastfacts.Gathered) -> dict[str, Any]:
        assert self.entry is not None
        return {
            "now": self.now,
            "token_id": g.token_id,
            "touch": g.touch_token,
            "version": self.entry.version,
        }

    def _event(self, tag: EventTag, principal: Principal, **fields: Any) -> dict[str, Any]:
        return event_values(tag, principal, when=self.now, **fields)

    def refusal(
        self, g: fastfacts.Gathered, decision: Decision, ref: str, path: str | None
    ) -> dict[str, Any]:
        assert g.principal is not None
        values = self._event(
            EventTag.LINK_REFUSED,
            g.principal,
            model=ref,
            revision=g.commit,
            path=path,
            reason=decision.reason,
            data=refusal_data(self.door),
        )
        return fastissue.prefixed("r_", values)

    def refuse(self, g: fastfacts.Gathered, decision: Decision, ref: str, path: str | None) -> None:
        """Record the refusal and raise it; return (having written nothing) when
        access changed since the facts were read: the full path answers."""
        params = {**self._touch(g), **self.refusal(g, decision, ref, path)}
        if not self._wrote(g, self.conn.fetch_one(fastissue.REFUSE, params)):
            return
        link_outcome(self.door, decision, fast=True)
        raise AccessDenied(decision, ref)

    def issue(
        self, g: fastfacts.Gathered, decision: Decision, tag: EventTag, link_id: str, new: bool
    ) -> Served | None:
        """Count, record and (if `new`) store the link in one statement; what to sign.
        None: access changed since the facts were read, nothing was written."""
        assert g.principal is not None
        assert g.model is not None
        assert g.path is not None
        assert g.sha256 is not None
        assert g.size is not None
        assert g.commit is not None
        principal, tier = g.principal, decision.tier or ""
        event = self._event(
            tag,
            principal,
            model=g.model.ref,
            revision=g.commit,
            path=g.path,
            sha256=g.sha256,
            tier=tier,
            link_id=link_id,
            data=issue_data(self.rt, decision, self.door),
        )
        link = {
            "id": link_id,
            "user_id": principal.user_id,
            "address": None,
            "model_id": g.model_id,
            "revision_id": g.revision_id,
            "path": g.path,
            "sha256": g.sha256,
            "size": g.size,
            "tier": tier,
            "door": self.door,
            "created_at": self.now,
            "expires_at": self.now + timedelta(seconds=decision.link_ttl),
        }
        params: dict[str, Any] = {
            **self._touch(g),
            **fastissue.prefixed("e_", event),
            **fastissue.prefixed("l_", link),
            "new_link": new,
        }
        if decision.quota is None:
            if not self._wrote(g, self.conn.fetch_one(fastissue.ISSUE_UNCOUNTED, params)):
                return None
        else:
            over = self._over_quota(g, decision)
            params.update(
                subject=principal.quota_subject,
                tier=tier,
                day=self.day,
                quota=decision.quota,
                **self.refusal(g, over, g.model.ref, g.path),
            )
            row = self.conn.fetch_one(fastissue.ISSUE_COUNTED, params)
            if not self._wrote(g, row):
                return None
            assert row is not None
            self._count(tier, decision.quota if row[0] is None else row[0])
            if row[0] is None:
                link_outcome(self.door, over, fast=True)
                raise AccessDenied(over, g.model.ref)
        link_outcome(self.door, decision, fast=True)
        return Served(
            key=blob_key(g.sha256),
            filename=posixpath.basename(g.path),
            path=g.path,
            sha256=g.sha256,
            size=g.size,
            commit=g.commit,
        )

    def _over_quota(self, g: fastfacts.Gathered, decision: Decision) -> Decision:
        """The policy's refusal had the counter been full (another request filled it
        between the facts and the upsert): decide again on a full count."""
        assert g.access is not None
        assert decision.tier
        assert decision.quota is not None
        full: Mapping[str, int] = {**g.access.used_today, decision.tier: decision.quota}
        over = self.decide(replace(g, access=replace(g.access, used_today=full)), g.path)
        assert over.reason == "quota_exceeded", over
        return over

    def fingerprinted(self, decision: Decision, path: str | None) -> bool:
        """Whether the download is served from a marked copy (fingerprint.copies.
        wants_copy): the full path makes or finds it."""
        tier = self.rt.tiers.get(decision.tier or "")
        return bool(tier and tier.fingerprint and path and is_weights(path))


def _caching(app: Flask) -> bool:
    return bool(app.config.get("DOWNLOAD_FACTS_CACHE", True))


@timed_fast_link
def issue_link(
    app: Flask,
    rt: Runtime,
    raw_token: str,
    *,
    namespace: str,
    name: str,
    rev: str | None,
    path: str,
    door: str,
    base_url: str,
    address: str,
    user_agent: str | None,
    on_revision: Callable[[str], None] | None = None,
) -> IssuedLink | None:
    """A link for `path` of `namespace/name` at `rev`, as downloads.services.request_link
    gives it (AccessDenied for a refusal, recorded); None: take the full path."""
    if not fastfacts.names_main_or_commit(rev):
        return None  # a tag, a branch or a short commit id: the full path resolves those
    with fastdb.connection(app) as conn:
        req = _Request(conn, rt, door, address, user_agent)
        params = fastfacts.by_name_params(
            tokens.token_hash(raw_token), namespace, name, rev, path, req.day
        )
        g = req.gather(fastfacts.BY_NAME_SQL, params, cached=_caching(app))
        if g.full_path:
            return None
        decision = req.decide(g, path)
        if decision.allowed and req.fingerprinted(decision, path):
            return None
        if on_revision is not None and g.commit is not None:
            on_revision(g.commit)
        if not decision.allowed:
            req.refuse(g, decision, f"{namespace}/{name}", path)
            return None  # access changed meanwhile: nothing written
        link_id = secrets.token_urlsafe(16)
        served = req.issue(g, decision, EventTag.LINK_ISSUED, link_id, new=True)
    if served is None:
        return None
    # Committed and the connection returned: only now is the URL signed.
    return signed_link(rt, link_id, served, decision, req.now, base_url)


@timed_fast_link
def reuse_link(
    app: Flask,
    rt: Runtime,
    raw_token: str,
    link_id: str,
    *,
    base_url: str,
    address: str,
    user_agent: str | None,
) -> IssuedLink | None:
    """A fresh URL for the caller's /dl/ link, as downloads.services.use_link gives it;
    None: take the full path."""
    if len(link_id) > MAX_LINK_ID:
        return None
    with fastdb.connection(app) as conn:
        req = _Request(conn, rt, "dl", address, user_agent)
        params = {"token_hash": tokens.token_hash(raw_token), "link_id": link_id, "day": req.day}
        g = req.gather(fastfacts.BY_LINK_SQL, params, cached=False)
        if g.full_path:
            return None
        assert g.principal is not None
        created: datetime | None = g.created_at
        expired = created is None or req.now > created + DL_LINK_LIFETIME
        if expired or g.owner != g.principal.user_id:
            raise NotFound("No such download link, or it has expired.", code="not_found")
        assert g.model is not None
        decision = req.decide(g, g.path)
        if decision.allowed and req.fingerprinted(decision, g.path):
            return None
        if not decision.allowed:
            req.refuse(g, decision, g.model.ref, g.path)
            return None
        served = req.issue(g, decision, EventTag.LINK_USED, link_id, new=False)
    if served is None:
        return None
    return signed_link(rt, link_id, served, decision, req.now, base_url)
