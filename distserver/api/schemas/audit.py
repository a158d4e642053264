"""The audit log: events, signed checkpoints and download receipts."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from distserver.api.schemas.common import MAX_KEY, QueryParameters

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000


class EventsQuery(QueryParameters):
    model: str = Field("", description="NAMESPACE/NAME.")
    user: str = Field("", description="The actor (an e-mail address, 'anonymous', 'system').")
    action: str = Field("", description="A tag, or a prefix such as 'download' or 'download:link'.")
    since: str = Field(
        "", description="From (inclusive).", json_schema_extra={"format": "date-time"}
    )
    until: str = Field(
        "", description="Until (exclusive).", json_schema_extra={"format": "date-time"}
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size.")
    cursor: int | None = Field(None, ge=1, le=MAX_KEY, description="The previous page's `next`.")


class CheckpointsQuery(QueryParameters):
    after: int = Field(-1, ge=-1, le=MAX_KEY, description="Checkpoints after this seq.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size.")


class AuditEvent(BaseModel):
    id: int
    seq: int | None
    hash: str | None
    occurred_at: str
    action: str
    actor_id: int | None
    actor: str | None
    address: str | None
    user_agent: str | None
    model: str | None
    revision: str | None
    path: str | None
    sha256: str | None
    tier: str | None
    reason: str | None
    link_id: str | None
    data: dict[str, Any]


class EventsPage(BaseModel):
    events: list[AuditEvent]
    next: str | None = Field(description="The cursor of the following page, if any.")


class Checkpoint(BaseModel):
    seq: int
    head_hash: str
    created_at: str
    key_id: str
    signature: str


class Checkpoints(BaseModel):
    key_id: str
    public_key: str
    checkpoints: list[Checkpoint]
    next: str | None


class Receipt(BaseModel):
    """The signed receipt (audit/receipts.py): the issue event and its signature."""

    model_config = ConfigDict(extra="allow")
