"""A principal's standing on a model or file without issuing anything: for model
pages, listings and the doors' metadata answers. Same policy, same facts, no count."""

from __future__ import annotations

from sqlalchemy.orm import Session

from distserver.access.policy import Decision
from distserver.app_runtime import Runtime
from distserver.catalog.models import File, Model
from distserver.catalog.services import first_file, resolve_revision
from distserver.db import utcnow
from distserver.downloads.services import Target, decide_standing, marked_copy, wants_marked_copy
from distserver.fingerprint.copies import MarkedCopy, live_copies, wants_copy
from distserver.identity import Principal


def model_access(session: Session, rt: Runtime, principal: Principal, model: Model) -> Decision:
    """The principal's standing on the model's main revision as a whole (for model
    pages and the API's model detail): the same policy, asked for any one file."""
    revision = resolve_revision(session, model, "main")
    first = first_file(session, revision) if revision else None
    target = Target(model, revision, first, model.ref)
    return decide_standing(session, rt, principal, target, utcnow(), first.path if first else None)


def recipient_copies(
    session: Session,
    rt: Runtime,
    principal: Principal,
    model: Model,
    files: list[File],
    decision: Decision | None = None,
) -> tuple[bool, dict[str, MarkedCopy]]:
    """For listings: whether the principal's standing on the model is in a fingerprinted
    tier, and their live copies among ``files``, by original sha256. Makes nothing: a
    weights file with no copy yet lists the published sha256 (see the doors' docs).
    ``decision``: the caller's `model_access` on this model, when already decided."""
    if decision is None:
        decision = model_access(session, rt, principal, model)
    tier = rt.tiers.get(decision.tier or "") if decision.allowed else None
    weights = {f.sha256 for f in files if wants_copy(tier, principal, f)}
    if not weights or principal.user_id is None:
        return False, {}
    return True, live_copies(session, principal.user_id, weights)


def served_blob(
    session: Session, rt: Runtime, principal: Principal, target: Target
) -> tuple[str, int]:
    """The sha256 and size a download of ``target.file`` serves to ``principal`` (for a
    door's metadata answer, e.g. the Hugging Face door's HEAD): a fingerprinted
    recipient's copy, so the metadata matches the bytes the download that follows
    will serve; CopyInPreparation when that copy is not ready (it is never made
    here). Issues no link and counts no quota."""
    assert target.file is not None
    decision = decide_standing(session, rt, principal, target, utcnow(), target.file.path)
    if decision.allowed and wants_marked_copy(rt, principal, target, decision):
        copy = marked_copy(session, rt, principal, target, decision)
        if copy is not None:
            return copy.sha256, copy.size
    return target.file.sha256, target.file.size
