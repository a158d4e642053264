"""Checking an alert's evidence offline, with the audit log's public key alone: the
export must verify (chain and signed checkpoints), and every sequence number the alert
names must be an event of the export that a signed checkpoint covers. Needs no
settings and no database."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from distserver.audit.chain_verifier import verify_export


@dataclass(frozen=True)
class EvidenceCheck:
    ok: bool
    message: str
    events: list[dict[str, Any]]


def check_evidence(
    export: list[bytes], public_key: Ed25519PublicKey, evidence: Iterable[int]
) -> EvidenceCheck:
    """`export`: the lines of an unfiltered JSONL audit export."""
    result = verify_export(export, public_key)
    if not result.ok or result.signed_seq is None:
        return EvidenceCheck(False, f"the export does not verify: {result.message}", [])
    wanted = set(evidence)
    found: dict[int, dict[str, Any]] = {}
    for line in export:
        row = json.loads(line)
        if row.get("seq") in wanted:
            found[row["seq"]] = row
    missing = sorted(wanted - set(found))
    if missing:
        return EvidenceCheck(False, f"seq {missing[0]} is not in the export", [])
    unsigned = sorted(s for s in wanted if s > result.signed_seq)
    if unsigned:
        return EvidenceCheck(False, f"seq {unsigned[0]} is after the last signed checkpoint", [])
    events = [found[s] for s in sorted(wanted)]
    return EvidenceCheck(True, f"{len(events)} evidence events verified", events)
