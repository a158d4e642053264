"""Auditor endpoints in /api/v1: events, checkpoints, receipts."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, request

from distserver import guards
from distserver.accounts.sessions import current_principal
from distserver.api import api_v1
from distserver.api.schemas import audit as shapes
from distserver.api.schemas import common
from distserver.api.schemas.common import AUTH, PUBLIC, answers
from distserver.api.spec import declare
from distserver.app_runtime import current_runtime
from distserver.audit.checkpoints import format_utc, key_id, public_key_pem
from distserver.audit.keys import signing_key
from distserver.audit.models import AuditEvent, AuditSeal
from distserver.audit.queries import checkpoints, events_page, parse_filter, require_auditor
from distserver.audit.receipts import receipt
from distserver.downloads.models import DownloadLink
from distserver.errors import (
    ConfigError,
    NotFound,
    Unavailable,
)
from distserver.extensions import db
from distserver.inputs import int_arg
from distserver.paging import Keyset

DEFAULT_LIMIT, MAX_LIMIT = shapes.DEFAULT_LIMIT, shapes.MAX_LIMIT
# Seqs and ids are 64-bit keys; a larger number would overflow the database driver.
MAX_KEY = common.MAX_KEY


def _key():  # type: ignore[no-untyped-def]
    try:
        return signing_key(current_runtime().settings)
    except ConfigError:
        # Start-up should have refused this; say so rather than a bare 500.
        raise Unavailable(
            "The audit signing key is not configured on this server.", code="audit_key_missing"
        ) from None


def _int_arg(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    return int_arg(request.args, name, default, low, high)


def _event_json(event: AuditEvent, seal: AuditSeal | None) -> dict[str, Any]:
    return {
        "id": event.id,
        "seq": seal.seq if seal else None,
        "hash": seal.hash if seal else None,
        "occurred_at": format_utc(event.occurred_at),
        "action": event.tag,
        "actor_id": event.actor_id,
        "actor": event.actor,
        "address": event.address,
        "user_agent": event.user_agent,
        "model": event.model,
        "revision": event.revision,
        "path": event.path,
        "sha256": event.sha256,
        "tier": event.tier,
        "reason": event.reason,
        "link_id": event.link_id,
        "data": json.loads(event.data or "{}"),
    }


@api_v1.get("/audit/events")
@declare("audit", answers(200, shapes.EventsPage, (*AUTH, 503)), query=shapes.EventsQuery)
def audit_events() -> Response:
    """Audit events newest first, filtered; `next` is the cursor of the following page."""
    require_auditor(current_principal())
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    cursor = _int_arg("cursor", None, 1, MAX_KEY)
    page = events_page(db.session, parse_filter(request.args), Keyset(before=cursor), limit=limit)
    return jsonify(
        {
            "events": [_event_json(event, seal) for event, seal in page.rows],
            "next": str(page.older) if page.older is not None else None,
        }
    )


@api_v1.get("/audit/checkpoints")
@declare(
    "audit",
    answers(200, shapes.Checkpoints, (400, 401, 403, 503)),
    query=shapes.CheckpointsQuery,
    security=PUBLIC,
)
def audit_checkpoints() -> Response:
    """Signed chain heads, oldest first, and the key that verifies them (anyone)."""
    after = _int_arg("after", -1, -1, MAX_KEY)
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    found = checkpoints(db.session, after=after if after is not None else -1, limit=limit)
    key = _key()
    return jsonify(
        {
            "key_id": key_id(key.public_key()),
            "public_key": public_key_pem(key).decode("ascii"),
            "checkpoints": [cp.to_dict() for cp in found],
            "next": str(found[-1].seq) if len(found) == limit else None,
        }
    )


@api_v1.get("/receipts/<link_id>")
@declare("audit", answers(200, shapes.Receipt, (*AUTH, 404, 503)))
def download_receipt(link_id: str) -> Response:
    """The signed receipt of one of the caller's download links."""
    principal = guards.principal()
    link = db.session.get(DownloadLink, link_id) if len(link_id) <= 32 else None
    if link is None or link.user_id != principal.user_id:
        raise NotFound("No such download link.", code="not_found")  # same answer for others'
    signed = receipt(db.session, link_id, _key())
    if signed is None:
        raise NotFound("This link has no recorded issue event.", code="not_found")
    return jsonify(signed)
