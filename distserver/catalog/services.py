"""The catalog: registering models and finding models, revisions and files."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import File, Model, Revision, RevisionTag
from distserver.catalog.names import COMMIT_RE, SHORT_COMMIT_RE, TAG_RE, check_names
from distserver.errors import BadRequest, Conflict, NotFound
from distserver.identity import Principal
from distserver.releases.plans import Plan
from distserver.releases.services import start_release


def find_model(session: Session, namespace: str, name: str) -> Model | None:
    return session.scalar(select(Model).where(Model.namespace == namespace, Model.name == name))


def create_model(
    session: Session,
    namespace: str,
    name: str,
    *,
    plan: Plan,
    title: str = "",
    card: str = "",
    actor: Principal | None = None,
) -> Model:
    check_names(namespace, name)
    if len(title) > 200:
        raise BadRequest("A title is at most 200 characters.", code="invalid_title")
    if find_model(session, namespace, name) is not None:
        raise Conflict(f"{namespace}/{name} already exists.", code="model_exists")
    model = Model(namespace=namespace, name=name, title=title or name, card=card, plan=plan.name)
    session.add(model)
    session.flush()
    start_release(session, model, plan, actor)
    record(session, EventTag.MODEL_CREATED, actor, model=model.ref, data={"plan": plan.name})
    session.commit()
    return model


def main_revision(session: Session, model: Model) -> Revision | None:
    """`main` is the newest published revision."""
    return resolve_revision(session, model, "main")


def resolve_revision(
    session: Session, model: Model, rev: str | None, *, with_files: bool = False
) -> Revision | None:
    """By `main` (or nothing), by full 40-hex commit id, by tag (`v1.0`, see
    catalog/tags.py) or by a unique commit prefix of 7 to 39 hex digits. None if there
    is no such one (or a prefix names several). `with_files` loads the revision's file
    list in the same query (for listings). `main` and full commit ids, the download
    hot path, cost one query as before."""
    query = select(Revision).where(Revision.model_id == model.id)
    if rev in (None, "", "main"):
        query = query.order_by(Revision.id.desc()).limit(1)
    elif COMMIT_RE.match(rev):
        query = query.where(Revision.commit == rev)
    elif TAG_RE.match(rev):
        tagged = select(RevisionTag.revision_id).where(
            RevisionTag.model_id == model.id, RevisionTag.name == rev
        )
        if SHORT_COMMIT_RE.match(rev):
            # Tags never look like commit ids (catalog/tags.py), so this is a prefix.
            query = query.where(Revision.commit.startswith(rev, autoescape=True)).limit(2)
        else:
            query = query.where(Revision.id.in_(tagged))
    else:
        return None
    if with_files:
        query = query.options(joinedload(Revision.files))
        found = list(session.scalars(query).unique())
    else:
        found = list(session.scalars(query))
    return found[0] if len(found) == 1 else None


def find_file(session: Session, revision: Revision, path: str) -> File | None:
    return session.scalar(select(File).where(File.revision_id == revision.id, File.path == path))


def first_file(session: Session, revision: Revision) -> File | None:
    query = select(File).where(File.revision_id == revision.id).order_by(File.path).limit(1)
    return session.scalar(query)


def list_models(session: Session) -> list[Model]:
    return list(session.scalars(select(Model).order_by(Model.namespace, Model.name)))


def require_model(session: Session, namespace: str, name: str) -> Model:
    model = find_model(session, namespace, name)
    if model is None:
        raise NotFound(f"No model {namespace}/{name}.", code="not_found")
    return model
