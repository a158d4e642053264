"""What a link request writes to the audit log, and the one place its outcome is
known, shared by the ORM path (downloads.services) and the fast path
(downloads.fastpath) so the two record and report identically."""

from __future__ import annotations

import logging
from typing import Any

from distserver.access.policy import Decision
from distserver.app_runtime import Runtime
from distserver.fingerprint.copies import MarkedCopy
from distserver.observability.metrics import record_link

log = logging.getLogger("distserver.downloads")


def issue_data(
    rt: Runtime, decision: Decision, door: str, copy: MarkedCopy | None = None
) -> dict[str, Any]:
    """The `data` of an issued or used link event."""
    tier = rt.tiers.get(decision.tier or "")
    agreement = tier.agreement if tier else None
    data: dict[str, Any] = {"door": door, "link_ttl": decision.link_ttl}
    if agreement is not None:
        # The terms the download was granted under, for receipts and audits.
        data.update(agreement=agreement.name, agreement_version=agreement.version)
    if copy is not None:
        data.update(
            fingerprint_id=copy.fingerprint_id,
            key_id=copy.key_id,
            original_sha256=copy.original_sha256,
        )
    return data


def refusal_data(door: str) -> dict[str, Any]:
    """The `data` of a refused link event."""
    return {"door": door}


def link_outcome(door: str, decision: Decision, *, fast: bool) -> None:
    """Called once per link request, after its event is committed and before any URL
    is signed: `door` (api, hf, dl, web), the decided tier, and issued
    (`decision.allowed`) or refused with `decision.reason`; `fast` says which path
    took it. Counted here, so both paths count alike."""
    if decision.allowed:
        record_link(door, "issued")
    else:
        record_link(door, "refused", decision.reason)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "link %s door=%s tier=%s reason=%s fast=%s",
            "issued" if decision.allowed else "refused",
            door,
            decision.tier,
            decision.reason,
            fast,
        )
