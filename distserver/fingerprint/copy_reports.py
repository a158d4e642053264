"""What marked copies cost and what is still being prepared: per recipient, per model
and in total, for the model's staff page, the API and `distserver fingerprints copies`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.accounts.models import User
from distserver.fingerprint.models import CopyTask, FingerprintCopy
from distserver.fingerprint.preparation import FAILED, PENDING, RUNNING


@dataclass(frozen=True)
class RecipientCopies:
    user_id: int
    email: str
    copies: int
    copy_bytes: int
    pending: int
    pending_bytes: int


def copy_report(
    session: Session, model_id: int | None = None, pending: list[CopyTask] | None = None
) -> list[RecipientCopies]:
    """Per (model if none given) recipient: live copies and their stored bytes, and the
    copies still pending or running, for the staff page, the API and the CLI. `pending`:
    the `pending_tasks` of the same model when the caller has them (one query fewer)."""
    live = select(
        FingerprintCopy.user_id, func.count(), func.coalesce(func.sum(FingerprintCopy.size), 0)
    ).where(FingerprintCopy.removed_at.is_(None))
    waiting = select(
        CopyTask.user_id, func.count(), func.coalesce(func.sum(CopyTask.size), 0)
    ).where(CopyTask.state.in_((PENDING, RUNNING, FAILED)))
    if model_id is not None:
        live = live.where(FingerprintCopy.model_id == model_id)
        waiting = waiting.where(CopyTask.model_id == model_id)
    made = {u: (n, b) for u, n, b in session.execute(live.group_by(FingerprintCopy.user_id))}
    if pending is None:
        todo = {u: (n, b) for u, n, b in session.execute(waiting.group_by(CopyTask.user_id))}
    else:
        todo = {}
        for task in pending:
            n, b = todo.get(task.user_id, (0, 0))
            todo[task.user_id] = (n + 1, b + (task.size or 0))
    ids = sorted(set(made) | set(todo))
    emails = {}
    if ids:
        emails = dict(session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())
    return [
        RecipientCopies(
            u,
            emails.get(u, "?"),
            int(made.get(u, (0, 0))[0]),
            int(made.get(u, (0, 0))[1]),
            int(todo.get(u, (0, 0))[0]),
            int(todo.get(u, (0, 0))[1]),
        )
        for u in ids
    ]


def pending_tasks(session: Session, model_id: int | None = None) -> list[CopyTask]:
    query = select(CopyTask).where(CopyTask.state.in_((PENDING, RUNNING, FAILED)))
    if model_id is not None:
        query = query.where(CopyTask.model_id == model_id)
    return list(session.scalars(query.order_by(CopyTask.model_id, CopyTask.user_id, CopyTask.path)))
