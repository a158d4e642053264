"""What the Hugging Face door may say about a model before any link is issued.

Visibility is the policy's `may_see`; download standing is `model_access` (the same
policy function the native API uses). Links themselves are only ever issued by
`downloads.services.request_link`. Refusals are raised as AccessDenied and phrased
by `distserver.hf.refusals`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from distserver import guards
from distserver.access.policy import Decision, ModelFacts, lists_files
from distserver.app_runtime import Runtime
from distserver.catalog.models import File, Model, Revision
from distserver.catalog.names import check_names, check_path
from distserver.catalog.services import find_file
from distserver.downloads.services import AccessDenied, locate
from distserver.downloads.standing import model_access
from distserver.errors import BadRequest, NotFound
from distserver.hf.refusals import not_found
from distserver.identity import Principal

NO_MODEL = "No such model."


@dataclass(frozen=True)
class Found:
    model: Model
    facts: ModelFacts
    revision: Revision


def find_visible(
    session: Session,
    rt: Runtime,
    principal: Principal,
    namespace: str,
    name: str,
    rev: str | None,
) -> Found:
    """The model and revision the caller may see, or AccessDenied(not_found) naming
    the missing part. A model the caller may not see is answered exactly as one that
    does not exist."""
    try:
        check_names(namespace, name)
    except BadRequest:
        raise not_found("model", NO_MODEL) from None
    target = locate(session, namespace, name, rev, None)
    try:
        facts = guards.require_visible(target.model, target.ref, principal)
    except NotFound:
        raise not_found("model", NO_MODEL) from None
    assert target.model is not None
    if target.revision is None:
        raise not_found("revision", f"{target.ref} has no such revision.")
    return Found(target.model, facts, target.revision)


def require_file(session: Session, found: Found, path: str) -> File:
    """The file at `path` of the found revision, or AccessDenied(not_found, "file")."""
    try:
        check_path(path)
    except BadRequest:
        raise not_found("file", f"{found.model.ref} has no file {path!r}.") from None
    file = find_file(session, found.revision, path)
    if file is None:
        raise not_found("file", f"{found.model.ref} has no file {path!r}.")
    return file


def require_standing(session: Session, rt: Runtime, principal: Principal, model: Model) -> Decision:
    """Refuse (AccessDenied) unless the caller may see this model's file list (the
    policy's `lists_files`: they may download from it now, quota aside). Returns the
    decision (`model_access`), for the listing's marked copies."""
    decision = model_access(session, rt, principal, model)
    if not lists_files(decision):
        raise AccessDenied(decision, model.ref)
    return decision
