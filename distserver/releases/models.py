"""Where each model stands in its release plan, and how it got there."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from distserver.db import Base, UTCDateTime, intpk, utcnow


class ReleaseState(Base):
    __tablename__ = "release_states"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(64))
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    halted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    halt_reason: Mapped[str | None] = mapped_column(String(500))


class StageTransition(Base):
    __tablename__ = "stage_transitions"

    id: Mapped[intpk]
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # created, promoted, demoted, halted, resumed
    from_stage: Mapped[str | None] = mapped_column(String(64))
    to_stage: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Evaluation(Base):
    """One evaluation result recorded as evidence for the gate of `stage` (the stage a
    model would enter). `revision_id` is the main revision at recording time."""

    __tablename__ = "release_evaluations"

    id: Mapped[intpk]
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("revisions.id"))
    name: Mapped[str] = mapped_column(String(64))
    passed: Mapped[bool] = mapped_column(Boolean)
    report: Mapped[str] = mapped_column(String(500))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Signoff(Base):
    """One safety sign-off of the gate of `stage`, by one person."""

    __tablename__ = "release_signoffs"

    id: Mapped[intpk]
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    stage: Mapped[str] = mapped_column(String(64))
    revision_id: Mapped[int | None] = mapped_column(ForeignKey("revisions.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
