"""Catalog and download links: GET /models, GET /models/<ns>/<name>, POST .../links."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from distserver.api.schemas.common import JsonBody, checked_later
from distserver.catalog.names import MAX_PATH


class ModelSummary(BaseModel):
    id: str = Field(description="NAMESPACE/NAME")
    title: str | None
    stage: str
    tiers: list[str]
    halted: bool


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelFile(BaseModel):
    path: str
    size: int
    sha256: str
    fingerprint: Literal["copy", "pending"] | None = Field(
        description="For a fingerprinted recipient's weights: 'copy' (the marked copy's "
        "size and sha256) or 'pending' (not made yet); null when served as published."
    )


class AccessDecision(BaseModel):
    allowed: bool
    tier: str | None
    reason: str | None
    message: str | None


class ModelDetail(ModelSummary):
    revision: str | None = Field(description="The 40-hex commit of main.")
    files: list[ModelFile]
    access: AccessDecision


class LinkRequest(JsonBody):
    path: str = checked_later(minLength=1, maxLength=MAX_PATH)
    revision: str | None = Field(None, description="A 40-hex commit or 'main'.")


class Link(BaseModel):
    url: str = Field(description="The signed storage URL.")
    expires_at: str = Field(json_schema_extra={"format": "date-time"})
    link_id: str
    dl_url: str = Field(description="/dl/{link_id}: re-decides on each use.")
    size: int
    sha256: str
    path: str
    revision: str
    tier: str | None
