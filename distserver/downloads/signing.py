"""Signing a link once its event is committed: what the link serves (read before the
commit, so signing needs no query) and the signed URL with its expiry, shared by the
full path (downloads.services) and the fast path (downloads.fastpath)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from distserver.access.policy import Decision
from distserver.app_runtime import Runtime


@dataclass(frozen=True)
class IssuedLink:
    link_id: str
    url: str
    expires_at: datetime
    size: int
    sha256: str
    path: str
    commit: str
    tier: str


@dataclass(frozen=True)
class Served:
    """What a link serves, read before the commit so signing needs no query."""

    key: str
    filename: str
    path: str
    sha256: str
    size: int
    commit: str


def signed_link(
    rt: Runtime, link_id: str, served: Served, decision: Decision, now: datetime, base_url: str
) -> IssuedLink:
    url = rt.storage.signed_url(
        served.key,
        ttl=decision.link_ttl,
        filename=served.filename,
        base_url=base_url,
        link_id=link_id,
    )
    return IssuedLink(
        link_id=link_id,
        url=url,
        expires_at=now + timedelta(seconds=decision.link_ttl),
        size=served.size,
        sha256=served.sha256,
        path=served.path,
        commit=served.commit,
        tier=decision.tier or "",
    )
