"""Link issuance: the one path by which a download is authorised, counted, recorded
and signed, for every door (native API, Hugging Face door, web, /dl/ links).

Invariant: no URL leaves this module unless its audit event has been committed.
"""

from __future__ import annotations

import posixpath
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from distserver.access.policy import Decision, Principal, decide
from distserver.access.services import gather_facts, today
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import File, Model, Revision
from distserver.catalog.services import find_file, find_model, resolve_revision
from distserver.db import utcnow
from distserver.downloads.models import DownloadLink, QuotaCounter
from distserver.errors import DistserverError, NotFound
from distserver.releases.services import model_facts
from distserver.runtime import Runtime
from distserver.storage.base import blob_key

REASON_STATUS = {
    "not_found": 404,
    "login_required": 401,
    "quota_exceeded": 429,
}
# How long a /dl/<id> link may be reused; every use is re-decided and recorded.
DL_LINK_LIFETIME = timedelta(hours=24)


class AccessDenied(DistserverError):
    """The policy refused; carries its Decision so each door can phrase it its way."""

    def __init__(self, decision: Decision):
        assert decision.reason is not None
        super().__init__(
            decision.message, code=decision.reason, status=REASON_STATUS.get(decision.reason, 403)
        )
        self.decision = decision


@dataclass(frozen=True)
class IssuedLink:
    link_id: str
    url: str
    expires_at: datetime
    size: int
    sha256: str
    path: str
    commit: str
    tier: str


@dataclass(frozen=True)
class Target:
    model: Model | None
    revision: Revision | None
    file: File | None
    ref: str


def locate(
    session: Session, namespace: str, name: str, rev: str | None, path: str | None
) -> Target:
    model = find_model(session, namespace, name)
    revision = resolve_revision(session, model, rev) if model else None
    file = find_file(revision, path) if revision and path else None
    return Target(model, revision, file, f"{namespace}/{name}")


def request_link(
    session: Session,
    rt: Runtime,
    principal: Principal,
    target: Target,
    *,
    door: str,
    base_url: str,
    now: datetime | None = None,
    path: str | None = None,
) -> IssuedLink:
    """Decide, count the quota, record and sign. Refusals are recorded too, then
    raised as AccessDenied; the signer is never called for them."""
    now = now or utcnow()
    decision = _decide_locked(session, rt, principal, target, now, path)
    if not decision.allowed:
        _refuse(session, principal, target, decision, now, door, path)
    assert target.model and target.revision and target.file and decision.tier
    link = DownloadLink(
        id=secrets.token_urlsafe(16),
        user_id=principal.user_id,
        address=principal.address if principal.anonymous else None,
        model_id=target.model.id,
        revision_id=target.revision.id,
        path=target.file.path,
        sha256=target.file.sha256,
        size=target.file.size,
        tier=decision.tier,
        door=door,
        created_at=now,
        expires_at=now + timedelta(seconds=decision.link_ttl),
    )
    session.add(link)
    _record_issue(session, EventTag.LINK_ISSUED, principal, target, decision, now, door, link.id)
    session.commit()
    return _sign(rt, link.id, target, decision, now, base_url)


def use_link(
    session: Session,
    rt: Runtime,
    principal: Principal,
    link_id: str,
    *,
    base_url: str,
    now: datetime | None = None,
) -> IssuedLink:
    """Re-decide a /dl/ link for its owner and hand out a fresh short-lived URL."""
    now = now or utcnow()
    link = session.get(DownloadLink, link_id) if len(link_id) <= 32 else None
    owner = link is not None and (
        link.user_id == principal.user_id
        if link.user_id is not None
        else principal.anonymous and link.address == principal.address
    )
    if link is None or not owner or now > link.created_at + DL_LINK_LIFETIME:
        raise NotFound("No such download link, or it has expired.", code="not_found")
    model = session.get(Model, link.model_id)
    revision = session.get(Revision, link.revision_id)
    assert model is not None and revision is not None
    target = Target(model, revision, find_file(revision, link.path), model.ref)
    decision = _decide_locked(session, rt, principal, target, now, link.path)
    if not decision.allowed:
        _refuse(session, principal, target, decision, now, "dl", link.path)
    _record_issue(session, EventTag.LINK_USED, principal, target, decision, now, "dl", link.id)
    session.commit()
    return _sign(rt, link.id, target, decision, now, base_url)


def _decide(
    session: Session,
    rt: Runtime,
    principal: Principal,
    target: Target,
    now: datetime,
    path: str | None,
) -> Decision:
    facts_model = model_facts(session, target.model, rt.plans, now=now) if target.model else None
    return decide(
        principal,
        facts_model,
        target.revision.commit if target.revision else None,
        path,
        now,
        tiers=rt.tiers,
        facts=gather_facts(session, principal, target.model, today(now)),
        file_exists=target.file is not None,
    )


def _decide_locked(
    session: Session,
    rt: Runtime,
    principal: Principal,
    target: Target,
    now: datetime,
    path: str | None,
) -> Decision:
    decision = _decide(session, rt, principal, target, now, path)
    if not decision.allowed or decision.quota is None:
        return decision
    # Lock this principal's counter for the tier, then decide again on the locked
    # count: N parallel requests against a quota of K yield exactly min(N, K) links.
    counter = _lock_counter(session, principal.quota_subject, decision.tier or "", today(now))
    decision = _decide(session, rt, principal, target, now, path)
    if decision.allowed and decision.quota is not None:
        if decision.tier != counter.tier:
            counter = _lock_counter(
                session, principal.quota_subject, decision.tier or "", today(now)
            )
        counter.used += 1
    return decision


def _lock_counter(session: Session, subject: str, tier: str, day: str) -> QuotaCounter:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(QuotaCounter)
        .values(subject=subject, tier=tier, day=day, used=0)
        .on_conflict_do_nothing()
    )
    query = (
        select(QuotaCounter)
        .where(QuotaCounter.subject == subject, QuotaCounter.tier == tier, QuotaCounter.day == day)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(query).scalar_one()


def _refuse(
    session: Session,
    principal: Principal,
    target: Target,
    decision: Decision,
    now: datetime,
    door: str,
    path: str | None,
) -> None:
    session.rollback()  # drop any counter lock; the refusal is recorded on its own
    record(
        session,
        EventTag.LINK_REFUSED,
        principal,
        when=now,
        model=target.ref,
        revision=target.revision.commit if target.revision else None,
        path=path,
        reason=decision.reason,
        data={"door": door},
    )
    session.commit()
    raise AccessDenied(decision)


def _record_issue(
    session: Session,
    tag: EventTag,
    principal: Principal,
    target: Target,
    decision: Decision,
    now: datetime,
    door: str,
    link_id: str,
) -> None:
    assert target.revision and target.file
    record(
        session,
        tag,
        principal,
        when=now,
        model=target.ref,
        revision=target.revision.commit,
        path=target.file.path,
        sha256=target.file.sha256,
        tier=decision.tier,
        link_id=link_id,
        data={"door": door, "link_ttl": decision.link_ttl},
    )


def _sign(
    rt: Runtime, link_id: str, target: Target, decision: Decision, now: datetime, base_url: str
) -> IssuedLink:
    assert target.file and target.revision
    url = rt.storage.signed_url(
        blob_key(target.file.sha256),
        ttl=decision.link_ttl,
        filename=posixpath.basename(target.file.path),
        base_url=base_url,
    )
    return IssuedLink(
        link_id=link_id,
        url=url,
        expires_at=now + timedelta(seconds=decision.link_ttl),
        size=target.file.size,
        sha256=target.file.sha256,
        path=target.file.path,
        commit=target.revision.commit,
        tier=decision.tier or "",
    )


def model_access(session: Session, rt: Runtime, principal: Principal, model: Model) -> Decision:
    """The principal's standing on the model's main revision as a whole (for model
    pages and the API's model detail): the same policy, asked for any one file."""
    revision = resolve_revision(session, model, "main")
    first = revision.files[0] if revision and revision.files else None
    target = Target(model, revision, first, model.ref)
    return _decide(session, rt, principal, target, utcnow(), first.path if first else None)
