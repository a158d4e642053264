"""Early access: applications and their review, agreements, "my access" and grants."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from distserver.access.applications import MAX_BULK, MAX_REASON, STATUSES
from distserver.api.schemas.common import JsonBody, OptionalBody, QueryParameters, checked_later

# Ids are INTEGER keys (32-bit on PostgreSQL); a larger one names nothing.
MAX_ID = 2**31 - 1
SHA256_PATTERN = "^[0-9a-f]{64}$"
ANSWERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The tier's form: field name to a string or a boolean (checkboxes).",
    "additionalProperties": {"type": ["string", "boolean"]},
}


def sha256_field(description: str) -> Any:
    return checked_later(None, pattern=SHA256_PATTERN, description=description)


class AcceptRequest(JsonBody):
    tier: str = Field(description="The tier whose agreements are accepted.")
    agreement_sha256: str | None = sha256_field("The sha256 of the tier's agreement read.")
    model_agreement_sha256: str | None = sha256_field("The sha256 of the model's agreement.")


class ApplyRequest(AcceptRequest):
    # The tier's form is checked by the service against the tier's fields.
    answers: Any = Field(None, json_schema_extra=ANSWERS_SCHEMA)


class RenewRequest(OptionalBody):
    answers: Any = Field(None, json_schema_extra=ANSWERS_SCHEMA)
    agreement_sha256: str | None = sha256_field("The sha256 of the tier's agreement read.")
    model_agreement_sha256: str | None = sha256_field("The sha256 of the model's agreement.")


class DecisionRequest(JsonBody):
    reason: str | None = checked_later(None, maxLength=MAX_REASON)


class DecideManyRequest(JsonBody):
    ids: list[Annotated[int, Field(gt=0, le=MAX_ID)]] = checked_later(
        minItems=1, maxItems=MAX_BULK, uniqueItems=True
    )
    decision: str = checked_later(enum=["approve", "reject"])
    reason: str | None = checked_later(None, maxLength=MAX_REASON)

    refusals: ClassVar[dict[str, tuple[str, str]]] = {
        "ids": ("invalid_ids", "'ids' must be a list of application ids."),
        "decision": ("invalid_decision", "'decision' is 'approve' or 'reject'."),
    }


class ApplicationQuery(QueryParameters):
    status: str = Field(
        "pending",
        description="Applications in this status (default pending; empty: any).",
        json_schema_extra={"enum": [*STATUSES, ""]},
    )
    tier: str = Field("", description="Only this tier.")
    model: str = Field("", description="Only this model, NAMESPACE/NAME.")


class PastApplication(BaseModel):
    id: int
    tier: str
    status: str
    created_at: str | None
    reason: str | None


class Application(BaseModel):
    id: int
    user: str
    model: str
    tier: str
    status: Literal["pending", "approved", "rejected", "withdrawn"]
    answers: dict[str, Any]
    agreement_sha256: str | None
    agreement_version: str | None
    renewal_of: int | None
    created_at: str | None
    decided_at: str | None
    decided_by: str | None
    reason: str | None
    grant_id: int | None
    history: list[PastApplication] = Field(
        default_factory=list, description="The applicant's other applications (reviewers)."
    )


class ApplicationList(BaseModel):
    applications: list[Application]


class AcceptedAgreement(BaseModel):
    agreement: str
    version: str
    sha256: str


class Accepted(BaseModel):
    tier: str
    model: str
    accepted: list[AcceptedAgreement]


class RevokedGrant(BaseModel):
    id: int
    revoked_at: str | None


class HeldGrant(BaseModel):
    id: int
    tier: str
    model: str | None
    source: str
    created_at: str | None
    expires_at: str | None
    revoked_at: str | None
    state: Literal["active", "expired", "revoked"]


class Membership(BaseModel):
    slug: str
    name: str
    tier: str
    role: str
    agreement_current: bool
    agreement_expires_at: str | None


class AcceptedByMe(BaseModel):
    agreement: str
    version: str
    sha256: str
    accepted_at: str | None
    current: bool


class MyAccess(BaseModel):
    applications: list[Application]
    grants: list[HeldGrant]
    organizations: list[Membership]
    agreements: list[AcceptedByMe]
