"""Alerts, the evaluation cursor, brakes and the fetches read from the storage's own
access records."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from distserver.db import Base, BigId, UTCDateTime, intpk, utcnow

STATES = ("open", "acknowledged", "dismissed")


class Alert(Base):
    """One finding of one rule about one principal ("user:<id>", "addr:<ip>",
    "net:<cidr>", "link:<id>") in one window or occasion (`window_key`); the three
    are unique, so evaluating the same events twice raises nothing new. `evidence`
    is a JSON list of the audit events' sequence numbers (their place in the sealed
    chain), which anyone holding an export and the public key can check."""

    __tablename__ = "alerts"

    id: Mapped[intpk]
    rule: Mapped[str] = mapped_column(String(32))
    principal: Mapped[str] = mapped_column(String(128))
    window_key: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The account the alert is about, as the audit log's actor_id (no foreign key, as
    # there: an alert stands whatever becomes of the account).
    user_id: Mapped[int | None] = mapped_column(BigId)
    model: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500))
    evidence: Mapped[str] = mapped_column(Text, default="[]")
    details: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("rule", "principal", "window_key"),
        Index("ix_alerts_state_raised", "state", "raised_at"),
        Index("ix_alerts_raised_at", "raised_at"),
    )

    @property
    def evidence_seqs(self) -> list[int]:
        return [int(s) for s in json.loads(self.evidence or "[]")]

    @property
    def detail(self) -> dict[str, Any]:
        return json.loads(self.details or "{}")


class AlertCursor(Base):
    """How far evaluation has read: the last sealed sequence number ("events") or the
    last link fetch id ("fetches") already evaluated."""

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_seen: Mapped[int] = mapped_column(BigId, default=-1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertBrake(Base):
    """A brake an alert put on: the API tokens it suspended (JSON list of ids), until a
    person acknowledges the alert (`released_at`)."""

    __tablename__ = "alert_brakes"

    id: Mapped[intpk]
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    token_ids: Mapped[str] = mapped_column(Text, default="[]")
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LinkFetch(Base):
    """One fetch of stored bytes, from the storage's own records (S3 server access
    logs, or the local backend's /files/ door), matched to the link it used when the
    request carried a link id (`link_id` NULL: unmatched). Unique per (source,
    request_id), so reading the same log twice records each fetch once."""

    __tablename__ = "link_fetches"

    id: Mapped[intpk]
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(128))
    link_id: Mapped[str | None] = mapped_column(String(64), index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    address: Mapped[str | None] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[int | None]
    bytes_sent: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (UniqueConstraint("source", "request_id"),)
