"""A principal's standing on models without issuing anything: for the catalog and model
pages, the doors' model answers and metadata, and the planning of marked copies.

One batch API: `standings` answers for many models for one principal in a fixed number
of queries (today's quota use, then what the principal holds: access.services.
gather_holdings), whatever the number of models; a single model is a batch of one
(`standing_of`, `model_access`). Every answer is `access.policy.decide`'s, asked for
one path of one revision: a model "as a whole" is asked for its revision's first file
(by path), so the catalog, the model page and the doors agree. Nothing is counted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.access.policy import AccessFacts, Decision, ModelFacts, decide, may_see
from distserver.access.services import gather_holdings, today
from distserver.app_runtime import Runtime
from distserver.catalog.models import File, Model, Revision
from distserver.catalog.services import first_file, resolve_revision
from distserver.db import utcnow
from distserver.downloads.services import Target, marked_copy, quota_used, wants_marked_copy
from distserver.fingerprint.copies import MarkedCopy, live_copies, wants_copy
from distserver.identity import Principal
from distserver.releases.models import ReleaseState
from distserver.releases.services import model_facts


@dataclass(frozen=True)
class Asked:
    """One model of a batch: `path` of `revision` (None: the model has no such revision,
    or the revision no such file)."""

    model: Model
    revision: Revision | None
    path: str | None


@dataclass(frozen=True)
class Standing:
    model: Model
    revision: Revision | None
    facts: ModelFacts  # the model's stage, tiers admitted and halt
    access: AccessFacts  # what the principal holds, for this model
    decision: Decision


def standings(
    session: Session, rt: Runtime, principal: Principal, asked: Sequence[Asked], now: datetime
) -> list[Standing]:
    """The principal's standing on each model asked, in the order asked. Each model's
    release state should be in the session already (model_facts reads it by primary key):
    one query per model otherwise."""
    facts = [model_facts(session, a.model, rt.plans, now) for a in asked]
    return _judge(session, rt, principal, list(zip(asked, facts, strict=True)), now)


def standing_of(
    session: Session,
    rt: Runtime,
    principal: Principal,
    model: Model,
    revision: Revision | None,
    path: str | None,
    now: datetime,
) -> Standing:
    """A batch of one: the standing on `path` of `revision` of `model`."""
    return standings(session, rt, principal, [Asked(model, revision, path)], now)[0]


def _judge(
    session: Session,
    rt: Runtime,
    principal: Principal,
    asked: list[tuple[Asked, ModelFacts]],
    now: datetime,
) -> list[Standing]:
    if not asked:
        return []
    used = quota_used(session, principal.quota_subject, today(now))
    ids = {a.model.id for a, _ in asked}
    held = gather_holdings(session, principal, ids, used_today=used, tiers=rt.tiers)
    out = []
    for a, facts in asked:
        access = held.on(a.model.id)
        decision = decide(
            principal,
            facts,
            a.revision.commit if a.revision else None,
            a.path,
            now,
            tiers=rt.tiers,
            facts=access,
            file_exists=a.path is not None,
        )
        out.append(Standing(a.model, a.revision, facts, access, decision))
    return out


def catalog(session: Session, rt: Runtime, principal: Principal, now: datetime) -> list[Standing]:
    """Every model the principal may see, with its standing on its main revision as a
    whole: a fixed number of queries whatever the number of models."""
    latest = (
        select(func.max(Revision.id))
        .where(Revision.model_id == Model.id)
        .correlate(Model)
        .scalar_subquery()
    )
    first_path = (
        select(func.min(File.path))
        .where(File.revision_id == Revision.id)
        .correlate(Revision)
        .scalar_subquery()
    )
    # The states stay referenced in `rows` while model_facts reads them by primary key
    # (the identity map holds rows weakly).
    rows: list[tuple[Model, ReleaseState, Revision | None, str | None]] = [
        (model, state, revision, path)
        for model, state, revision, path in session.execute(
            select(Model, ReleaseState, Revision, first_path)
            .join(ReleaseState, ReleaseState.model_id == Model.id)
            .outerjoin(Revision, Revision.id == latest)
            .order_by(Model.namespace, Model.name)
        )
    ]
    visible = []
    for model, _state, revision, path in rows:
        facts = model_facts(session, model, rt.plans, now)
        if may_see(principal, facts):
            visible.append((Asked(model, revision, path), facts))
    return _judge(session, rt, principal, visible, now)


def model_access(session: Session, rt: Runtime, principal: Principal, model: Model) -> Decision:
    """The principal's standing on the model's main revision as a whole (for the doors'
    model answers and the planning of marked copies)."""
    revision = resolve_revision(session, model, "main")
    first = first_file(session, revision) if revision else None
    path = first.path if first else None
    return standing_of(session, rt, principal, model, revision, path, utcnow()).decision


def recipient_copies(
    session: Session, rt: Runtime, principal: Principal, decision: Decision, files: list[File]
) -> tuple[bool, dict[str, MarkedCopy]]:
    """For listings: whether the principal's standing on the model (`decision`, from
    `model_access` or `standing_of`) is in a fingerprinted tier, and their live copies
    among ``files``, by original sha256. Makes nothing: a weights file with no copy yet
    lists the published sha256 (see the doors' docs)."""
    tier = rt.tiers.get(decision.tier or "") if decision.allowed else None
    weights = {f.sha256 for f in files if wants_copy(tier, principal, f)}
    if not weights or principal.user_id is None:
        return False, {}
    return True, live_copies(session, principal.user_id, weights)


def served_blob(
    session: Session, rt: Runtime, principal: Principal, target: Target
) -> tuple[str, int]:
    """The sha256 and size a download of ``target.file`` serves to ``principal`` (for a
    door's metadata answer, e.g. the Hugging Face door's HEAD): a fingerprinted
    recipient's copy, so the metadata matches the bytes the download that follows
    will serve; CopyInPreparation when that copy is not ready (it is never made
    here). Issues no link and counts no quota."""
    assert target.model is not None
    assert target.file is not None
    decision = standing_of(
        session, rt, principal, target.model, target.revision, target.file.path, utcnow()
    ).decision
    if decision.allowed and wants_marked_copy(rt, principal, target, decision):
        copy = marked_copy(session, rt, principal, target, decision)
        if copy is not None:
            return copy.sha256, copy.size
    return target.file.sha256, target.file.size
