"""Partner organisations, webhooks and the access report."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from distserver.access.organizations import MEMBER_ROLES
from distserver.api.schemas.common import JsonBody, QueryParameters, checked_later

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"


class OrganisationRequest(JsonBody):
    slug: str = checked_later(pattern=SLUG_PATTERN)
    name: str = checked_later(minLength=1, maxLength=200)
    tier: str | None = Field(None, description="Default: vetted_partner.")


class MemberRequest(JsonBody):
    email: str = checked_later(format="email")
    role: str | None = checked_later(None, enum=list(MEMBER_ROLES))


class RoleRequest(JsonBody):
    role: str = checked_later(enum=list(MEMBER_ROLES))


class SignatureRequest(JsonBody):
    signed_by: str = checked_later(minLength=1, maxLength=200)


class SignedAgreement(BaseModel):
    agreement: str
    version: str
    sha256: str
    signed_by: str
    signed_at: str | None
    expires_at: str | None


class Member(BaseModel):
    user_id: int
    email: str
    role: str
    added_at: str | None


class Organisation(BaseModel):
    slug: str
    name: str
    tier: str
    agreement: SignedAgreement | None
    members: list[Member]


class WebhookRequest(JsonBody):
    events: list[str] = checked_later(minItems=1)
    url: str = checked_later(format="uri", maxLength=500)

    refusals: ClassVar[dict[str, tuple[str, str]]] = {
        "events": ("invalid_events", "'events' must be a list of event tags."),
    }


class Delivery(BaseModel):
    id: int
    event: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: str | None
    delivered_at: str | None


class Webhook(BaseModel):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: str | None
    deliveries: list[Delivery]


class WebhookWithSecret(Webhook):
    secret: str = Field(description="The signing secret, shown in this answer only.")


class WebhookList(BaseModel):
    webhooks: list[Webhook]


class Redelivery(BaseModel):
    id: int
    webhook_id: int
    event: str
    status: str


class ReportQuery(QueryParameters):
    format: str = Field(
        "json",
        description="json or csv (a CSV attachment).",
        json_schema_extra={"enum": ["json", "csv"]},
    )


class AccessReport(BaseModel):
    rows: list[dict[str, Any]]
