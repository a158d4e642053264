"""Marked copies prepared ahead, by background jobs; a request never makes one.

The contract:

- When a recipient may gain access to a fingerprinted tier for a model (a grant, an
  organisation membership, a stage change, a new revision), the service that made the
  change calls ``planning.plan_after_commit``: once it commits, the ``fingerprint.plan`` job asks
  the policy (``decide()``, through ``model_access``) which users now stand in a
  fingerprinted tier, and records one ``CopyTask`` per (recipient, weights file of the
  model's current revision) that has no live copy, each with its own
  ``fingerprint.copy`` job.
- ``fingerprint.copy`` streams the marked copy into storage (copies.make_copy) and
  records the ``FingerprintCopy`` row only after the object is stored whole and has
  the published size. Storage writes atomically (a temporary file renamed on the
  local backend, a multipart upload completed at the end on S3), and a copy is only
  ever served through its row: a worker killed halfway leaves nothing that is served,
  and the job, delivered again, starts over from the first byte.
- At most ``FINGERPRINT_COPY_CONCURRENCY`` copies run at once in one worker process;
  a job that finds them all busy is sent again a little later.
- A door that needs a copy that is not ready raises ``CopyInPreparation`` (503 with
  Retry-After, code ``copy_in_preparation``, and the progress); it schedules the task
  itself when none exists, so a path that missed its trigger still converges.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from distserver.access.models import Grant, Membership, Organization
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.app_runtime import Runtime
from distserver.catalog.models import File, Model, Revision
from distserver.db import utcnow
from distserver.errors import DistserverError
from distserver.fingerprint.copies import is_weights, live_copies
from distserver.fingerprint.models import CopyTask
from distserver.fingerprint.planning import COPY_JOB

log = logging.getLogger(__name__)

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
# The file has no tensor to mark (e.g. no weight matrix): it is served as published.
UNMARKED = "unmarked"
# Progress is written at most this often (seconds) while a copy streams.
PROGRESS_EVERY = 1.0
# Copy rate assumed before a running copy has measured its own (bytes/s).
ASSUMED_RATE = 150 * 1024 * 1024


class CopyInPreparation(DistserverError):
    """A fingerprinted recipient asked for a weights file whose copy is not ready."""

    status = 503
    code = "copy_in_preparation"

    def __init__(self, message: str, *, retry_after: int, progress: dict[str, Any]):
        super().__init__(message)
        self.retry_after = retry_after
        self.progress = progress


@dataclass(frozen=True)
class Progress:
    state: str
    bytes_done: int
    size: int
    seconds_left: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "bytes_done": self.bytes_done,
            "size": self.size,
            "percent": round(100 * self.bytes_done / self.size, 1) if self.size else 0.0,
            "seconds_left": self.seconds_left,
        }


def progress_of(task: CopyTask) -> Progress:
    """The task's progress and an estimate of the seconds left (at the assumed rate
    before the copy has started, at its own rate after)."""
    left = max(task.size - task.bytes_done, 0)
    rate = float(ASSUMED_RATE)
    if task.state == RUNNING and task.bytes_done > 0:
        elapsed = (task.updated_at - task.created_at).total_seconds()
        if elapsed > 0:
            rate = max(task.bytes_done / elapsed, 1.0)
    return Progress(task.state, task.bytes_done, task.size, math.ceil(left / rate))


def not_ready(task: CopyTask, settings: Any) -> CopyInPreparation:
    progress = progress_of(task)
    cap = int(settings.get("FINGERPRINT_COPY_RETRY_AFTER_MAX", 30))
    retry_after = max(1, min(cap, progress.seconds_left or 1))
    minutes = max(1, math.ceil(progress.seconds_left / 60))
    done = progress.as_dict()["percent"]
    message = (
        f"Your marked copy of {task.path} is being prepared ({done}% done), about "
        f"{minutes} minute{'s' if minutes != 1 else ''}; retry after {retry_after} s."
    )
    if task.state == FAILED:
        message = (
            f"Your marked copy of {task.path} could not be prepared yet and is being "
            f"tried again; retry after {retry_after} s."
        )
    return CopyInPreparation(message, retry_after=retry_after, progress=progress.as_dict())


def _stale_after(settings: Any) -> timedelta:
    """A running task whose heartbeat is older than this is taken to be a dead worker's."""
    return timedelta(seconds=int(settings.get("FINGERPRINT_COPY_STALE_SECONDS", 120)))


# ---- planning -------------------------------------------------------------------------


def _candidate_users(
    session: Session, rt: Runtime, model_id: int | None, user_id: int | None
) -> list[User]:
    """Users who may stand in a fingerprinted tier: a live grant of one, or membership
    of an organisation that confers one. The policy has the last word."""
    marked = sorted(t.name for t in rt.tiers.values() if t.fingerprint)
    if not marked:
        return []
    now = utcnow()
    grants = select(Grant.user_id).where(
        Grant.tier.in_(marked),
        Grant.revoked_at.is_(None),
        or_(Grant.expires_at.is_(None), Grant.expires_at > now),
    )
    if model_id is not None:
        grants = grants.where(or_(Grant.model_id.is_(None), Grant.model_id == model_id))
    members = (
        select(Membership.user_id)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Organization.tier.in_(marked))
    )
    ids = set(session.scalars(grants)) | set(session.scalars(members))
    if user_id is not None:
        ids &= {user_id}
    if not ids:
        return []
    return list(session.scalars(select(User).where(User.id.in_(sorted(ids))).order_by(User.id)))


def plan(
    session: Session, rt: Runtime, *, model_id: int | None = None, user_id: int | None = None
) -> list[int]:
    """Record the copy tasks the current grants call for and return the ids of those
    that need a job. Commits."""
    from distserver.accounts.services import principal_for
    from distserver.catalog.services import resolve_revision
    from distserver.downloads.standing import model_access

    users = _candidate_users(session, rt, model_id, user_id)
    query = select(Model).order_by(Model.id)
    if model_id is not None:
        query = query.where(Model.id == model_id)
    models = list(session.scalars(query)) if users else []
    wanted: list[int] = []
    for model in models:
        revision = resolve_revision(session, model, "main")
        if revision is None:
            continue
        weights = [f for f in revision.files if is_weights(f.path)]
        if not weights:
            continue
        for user in users:
            decision = model_access(session, rt, principal_for(user, "jobs"), model)
            tier = rt.tiers.get(decision.tier or "") if decision.allowed else None
            if tier is None or not tier.fingerprint:
                continue
            wanted += ensure_tasks(
                session, user.id, tier, model, revision, weights, _stale_after(rt.settings)
            )
    session.commit()
    return wanted


def ensure_tasks(
    session: Session,
    user_id: int,
    tier: Tier,
    model: Model,
    revision: Revision,
    files: Iterable[File],
    stale_after: timedelta = timedelta(minutes=2),
) -> list[int]:
    """Tasks for the files that have no live copy and no task under way; returns the
    ids of the tasks that need a job (new, failed, or finished but the copy removed).
    Flushes, does not commit."""
    files = list(files)
    have = live_copies(session, user_id, {f.sha256 for f in files})
    tasks = {
        t.original_sha256: t
        for t in session.scalars(
            select(CopyTask).where(
                CopyTask.user_id == user_id,
                CopyTask.original_sha256.in_(sorted({f.sha256 for f in files})),
            )
        )
    }
    out: list[int] = []
    for file in files:
        if file.sha256 in have:
            continue
        task = tasks.get(file.sha256)
        if task is None:
            task = _new_task(user_id, tier, model, revision, file, PENDING)
            session.add(task)
            tasks[file.sha256] = task
        elif _under_way(task, stale_after):
            continue
        else:
            task.state, task.bytes_done, task.error, task.tier = PENDING, 0, None, tier.name
            task.model_id, task.revision_id, task.path = model.id, revision.id, file.path
            task.created_at = task.updated_at = utcnow()
        session.flush()
        out.append(task.id)
    return out


def _under_way(task: CopyTask, stale_after: timedelta) -> bool:
    """Queued, settled as unmarked, or running with a recent heartbeat."""
    if task.state == RUNNING:
        return utcnow() - task.updated_at < stale_after
    return task.state in (PENDING, UNMARKED) and task.id is not None


def enqueue_copies(task_ids: Iterable[int], session: Session) -> None:
    from distserver.jobs import enqueue_after_commit

    for task_id in task_ids:
        enqueue_after_commit(COPY_JOB, task_id, session=session)


def served_unmarked(session: Session, user_id: int, sha256: str) -> bool:
    """Whether the copy job found this blob has nothing to mark (served as published)."""
    query = select(CopyTask.id).where(
        CopyTask.user_id == user_id,
        CopyTask.original_sha256 == sha256,
        CopyTask.state == UNMARKED,
    )
    return session.scalars(query).first() is not None


def ensure_for_request(
    session: Session, rt: Runtime, user_id: int, tier: Tier, file: File
) -> CopyInPreparation | None:
    """For a door whose recipient has no live copy of ``file``: None when the file has
    nothing to mark (its header is read, the answer kept as an ``unmarked`` task, and
    the file is served as published); otherwise make sure a task is queued (if it
    had none, failed, or its worker went quiet) and return the error to raise.
    Commits (the request's own transaction has written nothing yet)."""
    for _ in range(3):  # a job or another request may create the task meanwhile
        try:
            return _settle_for_request(session, rt, user_id, tier, file)
        except IntegrityError:
            session.rollback()
    raise RuntimeError("the copy task kept changing under this request")


def _settle_for_request(
    session: Session, rt: Runtime, user_id: int, tier: Tier, file: File
) -> CopyInPreparation | None:
    from distserver.fingerprint.copies import has_markable_tensor

    revision = session.get(Revision, file.revision_id)
    assert revision is not None
    model = session.get(Model, revision.model_id)
    assert model is not None
    mine = select(CopyTask).where(
        CopyTask.user_id == user_id, CopyTask.original_sha256 == file.sha256
    )
    known = session.scalars(mine).first()
    if not has_markable_tensor(rt.storage, file.sha256, tier):
        if known is None:
            session.add(_new_task(user_id, tier, model, revision, file, UNMARKED))
        else:
            known.state, known.bytes_done, known.updated_at = UNMARKED, known.size, utcnow()
        session.commit()
        return None
    ids = ensure_tasks(session, user_id, tier, model, revision, [file], _stale_after(rt.settings))
    enqueue_copies(ids, session)
    session.commit()
    return not_ready(session.scalars(mine).one(), rt.settings)


def _new_task(
    user_id: int, tier: Tier, model: Model, revision: Revision, file: File, state: str
) -> CopyTask:
    """A copy task in `state`: PENDING (nothing copied yet) or UNMARKED (nothing to copy:
    the file is served as published, so it counts as done)."""
    now = utcnow()
    return CopyTask(
        user_id=user_id,
        model_id=model.id,
        revision_id=revision.id,
        path=file.path,
        original_sha256=file.sha256,
        size=file.size,
        tier=tier.name,
        state=state,
        bytes_done=file.size if state == UNMARKED else 0,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
