"""The audit event row. Rows are only ever inserted: never updated, never deleted.
Sealing (sequence number and hash chain) lives in its own tables, so it can be
added to history without touching an event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from distserver.db import Base, BigId, UTCDateTime, intpk, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[intpk]
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # source:subject:action, see distserver.audit.tags.EventTag
    tag: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None]
    # The actor's e-mail at the time, "anonymous", or "system".
    actor: Mapped[str] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str | None] = mapped_column(String(200))
    revision: Mapped[str | None] = mapped_column(String(40))
    path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(64))
    link_id: Mapped[str | None] = mapped_column(String(64))
    # Anything else, as canonical JSON (sorted keys). Never a secret.
    data: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (
        Index("ix_audit_events_model_occurred", "model", "occurred_at"),
        Index("ix_audit_events_actor_occurred", "actor_id", "occurred_at"),
        Index("ix_audit_events_tag_occurred", "tag", "occurred_at"),
        # Download counts: one model's issued links in a window (migration 0017).
        Index("ix_audit_events_model_tag_occurred", "model", "tag", "occurred_at"),
    )

    # The fields, in order, that the chain's canonical encoding covers.
    CHAINED_FIELDS = (
        "id",
        "occurred_at",
        "tag",
        "actor_id",
        "actor",
        "address",
        "user_agent",
        "model",
        "revision",
        "path",
        "sha256",
        "tier",
        "reason",
        "link_id",
        "data",
    )


class AuditSeal(Base):
    """An event's place in the hash chain: seq (0, 1, 2, ... with no gaps), the chain hash
    after it, and the canonical bytes that were hashed (see distserver.audit.chain; NULL for
    seals written before they were kept). Written once by the sealer, never updated."""

    __tablename__ = "audit_seals"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("audit_events.id"), unique=True)
    hash: Mapped[str] = mapped_column(String(64))  # 64 lowercase hex
    canonical: Mapped[bytes | None] = mapped_column(LargeBinary)


class AuditCheckpoint(Base):
    """A signed head of the chain (distserver.audit.checkpoints.Checkpoint), one per batch."""

    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    head_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(32))
    signature: Mapped[str] = mapped_column(String(128))  # base64 of 64 bytes
