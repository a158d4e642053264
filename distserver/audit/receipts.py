"""Signed receipts of issued links (GET /api/v1/receipts/<link_id>): the event, its seal
and the checkpoint that covers it, signed with the audit key."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.audit.chain import CHAINED_FIELDS
from distserver.audit.checkpoints import Checkpoint, format_utc
from distserver.audit.keys import sign_receipt
from distserver.audit.models import AuditCheckpoint, AuditEvent, AuditSeal
from distserver.audit.queries import checkpoint_from_row
from distserver.audit.tags import EventTag


def receipt(session: Session, link_id: str, key: Ed25519PrivateKey) -> dict[str, Any] | None:
    """The signed receipt of an issued link, or None if no issue event names it.

    The receipt holds the event's chained fields, its seq, hash and the previous hash (so
    `link_hash(prev_hash, seq, canonical_bytes(event)) == hash` can be checked), and the
    first checkpoint at or after it, if it is sealed yet."""
    event = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.link_id == link_id, AuditEvent.tag == str(EventTag.LINK_ISSUED))
        .order_by(AuditEvent.id)
        .limit(1)
    ).first()
    if event is None:
        return None
    seal = session.scalars(select(AuditSeal).where(AuditSeal.event_id == event.id)).first()
    prev_hash = checkpoint = None
    if seal is not None:
        prev = session.scalars(select(AuditSeal.hash).where(AuditSeal.seq == seal.seq - 1)).first()
        prev_hash = prev or "0" * 64
        found = checkpoint_at_or_after(session, seal.seq)
        checkpoint = found.to_dict() if found else None
    data = json.loads(event.data or "{}")
    body = {
        "link_id": link_id,
        "event_id": event.id,
        "sha256": event.sha256,
        "tier": event.tier,
        "agreement_version": data.get("agreement_version"),
        "event": {
            name: format_utc(value) if name == "occurred_at" else value
            for name, value in ((n, getattr(event, n)) for n in CHAINED_FIELDS)
        },
        "seq": seal.seq if seal else None,
        "hash": seal.hash if seal else None,
        "prev_hash": prev_hash,
        "checkpoint": checkpoint,
    }
    return sign_receipt(key, body)


def checkpoint_at_or_after(session: Session, seq: int) -> Checkpoint | None:
    """The first stored checkpoint that covers `seq`, if it is sealed under one yet."""
    row = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.seq >= seq)
        .order_by(AuditCheckpoint.seq)
        .limit(1)
    ).first()
    return checkpoint_from_row(row) if row else None
