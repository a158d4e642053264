"""Link issuance: the path by which a download is authorised, counted, recorded and
signed, for every door (native API, Hugging Face door, web, /dl/ links). Token-
authenticated requests on PostgreSQL try downloads.fastpath first, which gives the
same answers and writes the same rows in two statements, and hands anything it does
not take to this module having written nothing.

Invariant: no URL leaves this module unless its audit event has been committed.

Fingerprinted tiers: when the decided tier has ``fingerprint = true`` and the principal
is a user, a weights file is served from the recipient's marked copy, prepared ahead by
a job (``fingerprint.preparation``). A request never makes a copy: one that is not
ready raises CopyInPreparation (503, Retry-After, progress) before anything is counted
or recorded; the link row, the audit event and the returned IssuedLink carry the copy's
sha256 and size, and the event's data its fingerprint id, key id and original sha256.
"""

from __future__ import annotations

import posixpath
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from distserver.access.policy import AccessFacts, Decision, ModelFacts, decide
from distserver.access.services import gather_facts, today
from distserver.app_runtime import Runtime
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import File, Model, Revision
from distserver.catalog.services import find_file, find_model, resolve_revision
from distserver.db import utcnow
from distserver.downloads.models import DownloadLink, QuotaCounter
from distserver.downloads.records import issue_data, link_outcome, refusal_data
from distserver.downloads.signing import IssuedLink, Served, signed_link
from distserver.errors import DistserverError, NotFound
from distserver.fingerprint.copies import MarkedCopy, live_copies, wants_copy
from distserver.fingerprint.preparation import ensure_for_request, served_unmarked
from distserver.identity import Principal
from distserver.observability.metrics import metered_link
from distserver.releases.services import model_facts
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

    def __init__(self, decision: Decision, ref: str | None = None):
        assert decision.reason is not None
        super().__init__(
            decision.message, code=decision.reason, status=REASON_STATUS.get(decision.reason, 403)
        )
        self.decision = decision
        # The model asked for (NS/NAME), so a door can say where to apply.
        self.ref = ref


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
    file = find_file(session, revision, path) if revision and path else None
    return Target(model, revision, file, f"{namespace}/{name}")


@metered_link  # counts the link issued or refused (by door and reason) and times it
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
    decision, copy = _decide_with_copy(session, rt, principal, target, now, path)
    if not decision.allowed:
        _refuse(session, principal, target, decision, now, door, path)
    assert target.model
    assert target.revision
    assert target.file
    assert decision.tier
    served = _served(target, copy)
    link = DownloadLink(
        id=secrets.token_urlsafe(16),
        user_id=principal.user_id,
        address=principal.address if principal.anonymous else None,
        model_id=target.model.id,
        revision_id=target.revision.id,
        path=served.path,
        sha256=served.sha256,
        size=served.size,
        tier=decision.tier,
        door=door,
        created_at=now,
        expires_at=now + timedelta(seconds=decision.link_ttl),
    )
    session.add(link)
    _record_issue(
        session, rt, EventTag.LINK_ISSUED, principal, target, decision, now, door, link.id, copy
    )
    session.commit()
    link_outcome(door, decision, fast=False)
    return signed_link(rt, link.id, served, decision, now, base_url)


@metered_link
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
    assert model is not None
    assert revision is not None
    target = Target(model, revision, find_file(session, revision, link.path), model.ref)
    decision, copy = _decide_with_copy(session, rt, principal, target, now, link.path)
    if not decision.allowed:
        _refuse(session, principal, target, decision, now, "dl", link.path)
    served = _served(target, copy)
    _record_issue(
        session, rt, EventTag.LINK_USED, principal, target, decision, now, "dl", link.id, copy
    )
    session.commit()
    link_outcome("dl", decision, fast=False)
    return signed_link(rt, link.id, served, decision, now, base_url)


@dataclass(frozen=True)
class Facts:
    """Everything the policy reads for one request, gathered once."""

    model: ModelFacts | None
    access: AccessFacts


def _gather(
    session: Session, rt: Runtime, principal: Principal, target: Target, now: datetime
) -> Facts:
    model = model_facts(session, target.model, rt.plans, now=now) if target.model else None
    used = quota_used(session, principal.quota_subject, today(now))
    access = gather_facts(session, principal, target.model, used_today=used, tiers=rt.tiers)
    return Facts(model, access)


def quota_used(session: Session, subject: str, day: str) -> dict[str, int]:
    """Links counted against `subject` (Principal.quota_subject) on `day`, per tier."""
    query = select(QuotaCounter).where(QuotaCounter.subject == subject, QuotaCounter.day == day)
    return {c.tier: c.used for c in session.scalars(query)}


def _judge(
    rt: Runtime, principal: Principal, target: Target, now: datetime, path: str | None, f: Facts
) -> Decision:
    return decide(
        principal,
        f.model,
        target.revision.commit if target.revision else None,
        path,
        now,
        tiers=rt.tiers,
        facts=f.access,
        file_exists=target.file is not None,
    )


def _decide_with_copy(
    session: Session,
    rt: Runtime,
    principal: Principal,
    target: Target,
    now: datetime,
    path: str | None,
) -> tuple[Decision, MarkedCopy | None]:
    """The decision, taken again on the locked quota count, and the principal's marked
    copy when the decided tier asks for one (None: served as published). The copy is
    looked up first: one not ready raises CopyInPreparation before the quota lock.
    Only the count changes between the two decisions, so the second
    lands in the same tier or is refused for the quota."""
    facts = _gather(session, rt, principal, target, now)
    first = _judge(rt, principal, target, now, path, facts)
    if not first.allowed:
        return first, None
    copy = (
        marked_copy(session, rt, principal, target, first)
        if wants_marked_copy(rt, principal, target, first)
        else None
    )
    if first.quota is None:
        return first, copy
    # Lock this principal's counter for the tier and decide again on the locked count:
    # N parallel requests against a quota of K yield exactly min(N, K) links.
    tier, day = first.tier or "", today(now)
    used = {
        **facts.access.used_today,
        tier: _lock_counter(session, principal.quota_subject, tier, day),
    }
    locked = replace(facts, access=replace(facts.access, used_today=used))
    decision = _judge(rt, principal, target, now, path, locked)
    if not decision.allowed:
        return decision, None
    assert decision.tier == tier
    _count(session, principal.quota_subject, tier, day)
    return decision, copy


def wants_marked_copy(
    rt: Runtime, principal: Principal, target: Target, decision: Decision
) -> bool:
    return wants_copy(rt.tiers.get(decision.tier or ""), principal, target.file)


def marked_copy(
    session: Session, rt: Runtime, principal: Principal, target: Target, decision: Decision
) -> MarkedCopy | None:
    """The principal's live marked copy, or None when the file has nothing to mark;
    CopyInPreparation when the copy is not ready (a request never makes one)."""
    assert principal.user_id is not None
    assert target.file is not None
    file = target.file
    live = live_copies(session, principal.user_id, {file.sha256})
    if live:
        return live[file.sha256]
    if served_unmarked(session, principal.user_id, file.sha256):
        return None
    tier = rt.tiers[decision.tier or ""]
    not_ready = ensure_for_request(session, rt, principal.user_id, tier, file)
    if not_ready is not None:
        raise not_ready
    return None


def _lock_counter(session: Session, subject: str, tier: str, day: str) -> int:
    """Today's count for (subject, tier), with its row locked until the transaction
    ends: one upsert whose no-op update takes the row lock on PostgreSQL (SQLite takes
    its database write lock)."""
    stmt = _dialect_insert(session)(QuotaCounter).values(
        subject=subject, tier=tier, day=day, used=0
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["subject", "tier", "day"],
        set_={"used": stmt.excluded.used + QuotaCounter.used},
    ).returning(QuotaCounter.used)
    return session.execute(upsert).scalar_one()


def _dialect_insert(session: Session) -> Any:
    """The database's own INSERT (with ON CONFLICT). Imported here, as the engine imports
    its dialect: PostgreSQL's is a twentieth of a second of a SQLite process's start-up."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _count(session: Session, subject: str, tier: str, day: str) -> None:
    session.execute(
        update(QuotaCounter)
        .where(QuotaCounter.subject == subject, QuotaCounter.tier == tier, QuotaCounter.day == day)
        .values(used=QuotaCounter.used + 1)
    )


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
        data=refusal_data(door),
    )
    session.commit()
    link_outcome(door, decision, fast=False)
    raise AccessDenied(decision, target.ref)


def _record_issue(
    session: Session,
    rt: Runtime,
    tag: EventTag,
    principal: Principal,
    target: Target,
    decision: Decision,
    now: datetime,
    door: str,
    link_id: str,
    copy: MarkedCopy | None = None,
) -> None:
    assert target.revision
    assert target.file
    data = issue_data(rt, decision, door, copy)
    record(
        session,
        tag,
        principal,
        when=now,
        model=target.ref,
        revision=target.revision.commit,
        path=target.file.path,
        sha256=copy.sha256 if copy else target.file.sha256,
        tier=decision.tier,
        link_id=link_id,
        data=data,
    )


def _served(target: Target, copy: MarkedCopy | None) -> Served:
    assert target.file
    assert target.revision
    return Served(
        key=copy.key if copy else blob_key(target.file.sha256),
        filename=posixpath.basename(target.file.path),
        path=target.file.path,
        sha256=copy.sha256 if copy else target.file.sha256,
        size=copy.size if copy else target.file.size,
        commit=target.revision.commit,
    )
