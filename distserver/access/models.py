"""Grants (a person's standing in a tier), agreement acceptances, applications,
partner organisations and webhooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
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
    # When the holder was last reminded of the coming expiry.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_grants_user_tier", "user_id", "tier"),)


class AgreementAcceptance(Base):
    __tablename__ = "agreement_acceptances"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    agreement: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Application(Base):
    """A request for a tier on a model: pending, then approved, rejected or withdrawn."""

    __tablename__ = "applications"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    tier: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The form's answers, as a JSON object.
    answers: Mapped[str] = mapped_column(Text, default="{}")
    agreement_sha256: Mapped[str | None] = mapped_column(String(64))
    agreement_version: Mapped[str | None] = mapped_column(String(32))
    # Set when this application asks to renew an existing grant.
    renewal_of_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(String(2000))
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))

    __table_args__ = (
        Index("ix_applications_status_created", "status", "created_at"),
        Index("ix_applications_user_model_tier", "user_id", "model_id", "tier"),
    )


class Organization(Base):
    """A partner organisation; its members hold `tier` while its agreement is current."""

    __tablename__ = "organizations"

    id: Mapped[intpk]
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Membership(Base):
    __tablename__ = "memberships"

    id: Mapped[intpk]
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # "member" or "manager" (managers may add and remove members).
    role: Mapped[str] = mapped_column(String(16), default="member")
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)


class OrgAgreement(Base):
    """An agreement signed by an organisation, recorded by an admin."""

    __tablename__ = "org_agreements"

    id: Mapped[intpk]
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    agreement: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    signed_by: Mapped[str] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[intpk]
    url: Mapped[str] = mapped_column(String(500))
    # Kept to sign deliveries; never shown after creation and never logged.
    secret: Mapped[str] = mapped_column(String(128))
    # Space-separated event tags this hook subscribes to.
    events: Mapped[str] = mapped_column(String(2000))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"

    id: Mapped[intpk]
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    # pending (due at next_attempt_at), delivered, or failed (gave up).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),)


class AccessVersion(Base):
    """One row whose `version` every committed change to what the policy reads moves
    on (PostgreSQL triggers, migration 0019). The download fast path's cached facts
    are used only while the writing statement finds the version they were read at."""

    __tablename__ = "access_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
