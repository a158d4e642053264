"""Release gates and actions, the timeline, download statistics and marked copies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from distserver.api.schemas.common import JsonBody, OptionalBody, QueryParameters, checked_later
from distserver.downloads.statistics import DEFAULT_DAYS, MAX_DAYS


class EvaluationRequest(JsonBody):
    name: str = Field(description="An evaluation the gate asks for.")
    result: str = checked_later(enum=["pass", "fail"])
    report: str = checked_later(minLength=1, description="Kept to 500 characters.")


class ReasonBody(OptionalBody):
    reason: str | None = Field(None, description="Why (required).")


class Requirement(BaseModel):
    key: str
    met: bool
    text: str


class GateStatus(BaseModel):
    id: str
    stage: str
    tiers: list[str]
    halted: bool
    next_stage: str | None
    revision: str | None
    met: bool
    requirements: list[Requirement]


class TimelineEvent(BaseModel):
    at: str
    tag: str
    actor: str
    revision: str | None
    data: dict[str, Any]


class Timeline(BaseModel):
    id: str
    events: list[TimelineEvent]


class StatisticsQuery(QueryParameters):
    days: int = Field(
        DEFAULT_DAYS, ge=1, le=MAX_DAYS, description="How many UTC days, ending today."
    )


class DayCount(BaseModel):
    day: str = Field(json_schema_extra={"format": "date"})
    downloads: int
    by_tier: dict[str, int]
    by_door: dict[str, int]


class FileCount(BaseModel):
    path: str
    downloads: int


class Statistics(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    days: int
    first_day: str = Field(alias="from", json_schema_extra={"format": "date"})
    last_day: str = Field(alias="to", json_schema_extra={"format": "date"})
    downloads: int
    unique_recipients: int
    anonymous_downloads: int
    per_day: list[DayCount]
    top_files: list[FileCount]


class RecipientCopies(BaseModel):
    user: str
    copies: int
    copy_bytes: int
    pending: int
    pending_bytes: int


class PendingCopy(BaseModel):
    user: str
    path: str
    state: str
    bytes_done: int
    size: int
    percent: float
    seconds_left: int


class Copies(BaseModel):
    model: str
    recipients: list[RecipientCopies]
    total_copy_bytes: int
    pending: list[PendingCopy]
