"""What marked copies cost and what is still being prepared: per recipient, per model
and in total, for the model's staff page, the API and `distserver fingerprints copies`.
One statement reads it all (the staff pages keep a budget of statements per page)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, String, cast, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from distserver.accounts.models import User
from distserver.db import UTCDateTime
from distserver.fingerprint.models import CopyTask, FingerprintCopy
from distserver.fingerprint.preparation import FAILED, PENDING, RUNNING

WAITING = (PENDING, RUNNING, FAILED)


@dataclass(frozen=True)
class RecipientCopies:
    user_id: int
    email: str
    copies: int
    copy_bytes: int
    pending: int
    pending_bytes: int


@dataclass
class _Tally:
    email: str
    copies: int = 0
    copy_bytes: int = 0
    pending: int = 0
    pending_bytes: int = 0


@dataclass(frozen=True)
class CopyOverview:
    recipients: list[RecipientCopies]
    pending: list[CopyTask]  # detached rows, for progress_of

    @property
    def total_copy_bytes(self) -> int:
        return sum(r.copy_bytes for r in self.recipients)


def copy_overview(session: Session, model_id: int | None = None) -> CopyOverview:
    """Live copies and their stored bytes per recipient (of one model, or all), and
    every copy still pending, running or failed, in one statement."""
    made = (
        select(
            literal("copy").label("kind"),
            FingerprintCopy.user_id.label("user_id"),
            User.email.label("email"),
            cast(null(), String).label("path"),
            cast(func.count(), Integer).label("n"),
            cast(func.coalesce(func.sum(FingerprintCopy.size), 0), BigInteger).label("size"),
            cast(null(), BigInteger).label("bytes_done"),
            cast(null(), String).label("state"),
            cast(null(), String).label("error"),
            cast(null(), UTCDateTime()).label("created_at"),
            cast(null(), UTCDateTime()).label("updated_at"),
        )
        .join(User, User.id == FingerprintCopy.user_id)
        .where(FingerprintCopy.removed_at.is_(None))
        .group_by(FingerprintCopy.user_id, User.email)
    )
    waiting = (
        select(
            literal("task"),
            CopyTask.user_id,
            User.email,
            CopyTask.path,
            literal(1),
            CopyTask.size,
            CopyTask.bytes_done,
            CopyTask.state,
            CopyTask.error,
            CopyTask.created_at,
            CopyTask.updated_at,
        )
        .join(User, User.id == CopyTask.user_id)
        .where(CopyTask.state.in_(WAITING))
    )
    if model_id is not None:
        made = made.where(FingerprintCopy.model_id == model_id)
        waiting = waiting.where(CopyTask.model_id == model_id)
    per: dict[int, _Tally] = {}
    pending: list[CopyTask] = []
    for row in session.execute(union_all(made, waiting)).mappings():
        tally = per.setdefault(row["user_id"], _Tally(row["email"]))
        if row["kind"] == "copy":
            tally.copies, tally.copy_bytes = int(row["n"]), int(row["size"])
            continue
        tally.pending += 1
        tally.pending_bytes += int(row["size"])
        pending.append(
            CopyTask(
                user_id=row["user_id"],
                path=row["path"],
                size=int(row["size"]),
                bytes_done=int(row["bytes_done"]),
                state=row["state"],
                error=row["error"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
            )
        )
    recipients = [
        RecipientCopies(u, t.email, t.copies, t.copy_bytes, t.pending, t.pending_bytes)
        for u, t in sorted(per.items())
    ]
    pending.sort(key=lambda t: (t.user_id, t.path))
    return CopyOverview(recipients, pending)
