"""Revision tags: a name (`v1.0`) for one published revision of a model. Tags are
immutable: a name once given to a revision is never moved to another one, so a
download by tag is as reproducible as a download by commit id.

A tag name may not look like a commit id (7 to 40 hex digits) or be `main`, so the
resolver (catalog.services.resolve_revision) never has to choose between them."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model, Revision, RevisionTag
from distserver.catalog.names import TAG_RE
from distserver.errors import BadRequest, Conflict
from distserver.identity import Principal

LOOKS_LIKE_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
RESERVED = frozenset({"main", "head"})


def check_tag(name: str) -> str:
    if not TAG_RE.match(name) or ".." in name:
        raise BadRequest(
            "A tag is 1-64 ASCII letters, digits, '.', '-' or '_', starting and ending "
            "with a letter or digit.",
            code="invalid_tag",
        )
    if LOOKS_LIKE_COMMIT.match(name) or name.lower() in RESERVED:
        raise BadRequest(
            f"{name!r} would read as a commit id or a branch; choose another tag.",
            code="invalid_tag",
        )
    return name


def tag_revision(
    session: Session, model: Model, revision: Revision, name: str, actor: Principal
) -> RevisionTag:
    """Name `revision`; Conflict if the model already has a tag of that name."""
    check_tag(name)
    if find_tag(session, model, name) is not None:
        raise Conflict(
            f"{model.ref} already has a tag {name!r}; tags are never moved.", code="tag_exists"
        )
    tag = RevisionTag(
        model_id=model.id, revision_id=revision.id, name=name, created_by_id=actor.user_id
    )
    session.add(tag)
    record(
        session,
        EventTag.REVISION_TAGGED,
        actor,
        model=model.ref,
        revision=revision.commit,
        data={"tag": name},
    )
    session.commit()
    return tag


def find_tag(session: Session, model: Model, name: str) -> RevisionTag | None:
    query = select(RevisionTag).where(RevisionTag.model_id == model.id, RevisionTag.name == name)
    return session.scalar(query)


def model_tags(session: Session, model: Model) -> list[tuple[str, str]]:
    """(tag, commit) pairs of the model, by name."""
    query = (
        select(RevisionTag.name, Revision.commit)
        .join(Revision, Revision.id == RevisionTag.revision_id)
        .where(RevisionTag.model_id == model.id)
        .order_by(RevisionTag.name)
    )
    return [(name, commit) for name, commit in session.execute(query)]
