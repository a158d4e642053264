"""Alerts: the list, acknowledge and dismiss."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from distserver.api.schemas.common import MAX_KEY, OptionalBody, QueryParameters


class AlertsQuery(QueryParameters):
    state: str = Field(
        "",
        description="Only alerts in this state.",
        json_schema_extra={"enum": ["open", "acknowledged", "dismissed"]},
    )
    rule: str = Field("", description="Only this rule's alerts.")
    principal: str = Field("", description="Only alerts about this principal.")
    since: str = Field("", description="Raised from.", json_schema_extra={"format": "date-time"})
    limit: int = Field(100, ge=1, le=1000, description="At most.")


class AlertNote(OptionalBody):
    note: str | None = Field(None, description="What was found and done, or why it is no misuse.")


class Alert(BaseModel):
    id: int = Field(le=MAX_KEY)
    rule: str
    principal: str = Field(description="user:<id>, addr:<ip>, net:<cidr> or link:<id>.")
    window_key: str
    raised_at: str
    model: str | None
    summary: str
    evidence: list[int] = Field(
        description="Sequence numbers of the sealed audit events behind the alert."
    )
    details: dict[str, Any]
    state: Literal["open", "acknowledged", "dismissed"]
    note: str | None
    decided_at: str | None


class AlertList(BaseModel):
    alerts: list[Alert]
