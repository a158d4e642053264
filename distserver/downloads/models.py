"""Issued download links and the per-day quota counters they draw on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from distserver.db import Base, UTCDateTime, utcnow


class DownloadLink(Base):
    __tablename__ = "download_links"

    # Random and unguessable: it appears in /dl/<id> URLs.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("revisions.id"))
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    tier: Mapped[str] = mapped_column(String(64))
    door: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QuotaCounter(Base):
    __tablename__ = "quota_counters"

    # "user:<id>" or "addr:<ip>"
    subject: Mapped[str] = mapped_column(String(80), primary_key=True)
    tier: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # UTC date, ISO
    used: Mapped[int] = mapped_column(default=0)
