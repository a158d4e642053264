"""FingerprintCopy: one marked copy of one published weights blob for one recipient.

A row is kept after its copy is removed (``removed_at`` set), so ``distserver trace``
can still score everyone who ever received a marked copy. The copy's bytes are a
deterministic function of (original blob, master key, recipient, strength): a removed
copy is re-made identically if the same recipient asks again under the same key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from distserver.db import Base, UTCDateTime, intpk, utcnow


class FingerprintCopy(Base):
    __tablename__ = "fingerprint_copies"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Where the copy was first asked for; the copy itself is of the blob, so a later
    # revision that publishes the same bytes reuses it.
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    path: Mapped[str] = mapped_column(String(1024))
    original_sha256: Mapped[str] = mapped_column(String(64))
    copy_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(255))
    # The recipient id the mark encodes (see fingerprint/mark.py), e.g. "user-42".
    fingerprint_id: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    strength: Mapped[float] = mapped_column(Float)
    tier: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("user_id", "original_sha256", "key_id"),
        Index("ix_fingerprint_copies_original_sha256", "original_sha256"),
    )


class CopyTask(Base):
    """One recipient's marked copy of one weights blob, asked for ahead of any request
    (see fingerprint/preparation.py). ``state`` is pending (queued), running (a worker
    is writing it; ``bytes_done`` of ``size`` so far, ``updated_at`` its heartbeat),
    done (a live FingerprintCopy row exists) or failed (``error`` says why). A copy is
    served only through its FingerprintCopy row, which is written after the bytes are
    stored whole and checked: a task that is not done is never served."""

    __tablename__ = "fingerprint_copy_tasks"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    path: Mapped[str] = mapped_column(String(1024))
    original_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    tier: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "original_sha256"),
        Index("ix_fingerprint_copy_tasks_model_id_state", "model_id", "state"),
    )
