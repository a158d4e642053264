"""Recording audit events. `record` adds the row to the caller's transaction, so an
event commits together with the change it describes, or not at all."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy.orm import Session

from distserver.audit.models import AuditEvent
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.identity import SYSTEM, Principal
from distserver.observability.requests import current_request_id

# Keys that must never reach the log, whatever a caller passes in `data`.
SECRET_KEYS = frozenset({"password", "token", "secret", "totp", "code", "signature", "url"})


def event_data(extra: dict[str, Any] | None) -> str:
    """An event's `data` column: canonical JSON (sorted keys, no spaces) of `extra` without
    any secret key, plus "request_id" when recorded inside a request. Every writer of
    audit events (this module, and raw-SQL writers) builds `data` with this."""
    clean = {k: v for k, v in (extra or {}).items() if k.lower() not in SECRET_KEYS}
    request_id = current_request_id()
    if request_id is not None:
        clean["request_id"] = request_id
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), default=str)


class EventFields(TypedDict, total=False):
    """What an event says besides its tag and actor; every field may be left out."""

    when: datetime | None
    model: str | None
    revision: str | None
    path: str | None
    sha256: str | None
    tier: str | None
    reason: str | None
    link_id: str | None
    data: dict[str, Any] | None


def record(
    session: Session, tag: EventTag, actor: Principal | None, **fields: Unpack[EventFields]
) -> AuditEvent:
    event = AuditEvent(**event_values(tag, actor, **fields))
    session.add(event)
    return event


def event_values(
    tag: EventTag, actor: Principal | None, **fields: Unpack[EventFields]
) -> dict[str, Any]:
    """The column values of one audit event (every column but `id`), as `record`
    writes them. The one place an event's row is built: the ORM path (`record`) and
    the download fast path's single-statement insert both take their values here, so
    the two write identical rows and `data` is filtered and encoded one way."""
    actor = actor or SYSTEM
    return {
        "occurred_at": fields.get("when") or utcnow(),
        "tag": str(tag),
        "actor_id": actor.user_id,
        "actor": actor.label if actor.user_id else (actor.email or "anonymous"),
        "address": actor.address,
        "user_agent": (actor.user_agent or None) and actor.user_agent[:255],
        **{key: fields.get(key) for key in EVENT_COLUMNS},
        "data": event_data(fields.get("data")),
    }


# The columns that take a field of the same name as they are.
EVENT_COLUMNS = ("model", "revision", "path", "sha256", "tier", "reason", "link_id")
