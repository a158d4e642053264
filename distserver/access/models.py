"""Grants (a person's standing in a tier) and agreement acceptances."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from distserver.db import Base, UTCDateTime, intpk, utcnow


class Grant(Base):
    __tablename__ = "grants"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    tier: Mapped[str] = mapped_column(String(64))
    # None: the grant covers every model.
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id"))
    source: Mapped[str] = mapped_column(String(32), default="admin")
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_grants_user_tier", "user_id", "tier"),)


class AgreementAcceptance(Base):
    __tablename__ = "agreement_acceptances"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    agreement: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
