"""The catalog as staff edit it from the browser: create a model with its licence and
card, edit the card, read the revisions. Only `safety` and `admin` staff with a proved
second factor (accounts/staff.py) may create or edit: a card is what every visitor
reads, and a new model starts a release.

The licence lives where the Hugging Face door reads it (`card_data`): the card's YAML
front matter, as `license: <id>`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.accounts.models import User
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import File, Model, Revision, RevisionTag
from distserver.catalog.services import create_model
from distserver.errors import BadRequest
from distserver.identity import Principal, require_role
from distserver.releases.plans import Plan

CATALOG_ROLES = frozenset({"safety", "admin"})
MAX_CARD = 100_000
# Hub-style licence ids (apache-2.0, mit, cc-by-4.0, other): no spaces, no YAML syntax.
LICENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]{0,63}$")


def check_card(card: str) -> None:
    """Refuse a card the pages and the Hugging Face door would misread."""
    if len(card) > MAX_CARD:
        raise BadRequest(f"A card is at most {MAX_CARD:,} characters.", code="invalid_card")
    lines = card.splitlines()
    if lines and lines[0].strip() == "---" and not any(x.strip() == "---" for x in lines[1:]):
        raise BadRequest(
            "The card starts a front matter block with '---' but never closes it: "
            "add a line '---' after the metadata.",
            code="invalid_card",
        )


def with_licence(card: str, licence: str) -> str:
    """The card with `license: <licence>` in its front matter (replacing one already
    there, or adding a front matter block when the card has none)."""
    licence = licence.strip()
    if not LICENCE_RE.match(licence):
        raise BadRequest(
            "A licence is an identifier such as apache-2.0, mit or other "
            "(letters, digits, '.', '+' or '-').",
            code="invalid_licence",
        )
    check_card(card)
    lines = card.splitlines()
    if not lines or lines[0].strip() != "---":
        return f"---\nlicense: {licence}\n---\n{card}"
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    kept = [x for x in lines[1:end] if not re.match(r"^license\s*:", x)]
    return "\n".join(["---", f"license: {licence}", *kept, *lines[end:]]) + "\n"


def create_model_as_staff(
    session: Session,
    plans: Mapping[str, Plan],
    ref: tuple[str, str],
    *,
    plan: str,
    title: str,
    licence: str,
    card: str,
    actor: Principal,
) -> Model:
    """Register a model at its plan's first stage, with its licence in the card."""
    require_role(actor, CATALOG_ROLES, "create models", second_factor=True)
    if plan not in plans:
        raise BadRequest(
            f"No plan {plan!r}; plans are {', '.join(sorted(plans))}.", code="unknown_plan"
        )
    card = with_licence(card, licence)
    namespace, name = ref
    return create_model(
        session, namespace, name, plan=plans[plan], title=title.strip(), card=card, actor=actor
    )


def edit_card(session: Session, model: Model, *, title: str, card: str, actor: Principal) -> bool:
    """Replace the model's title and card; False when nothing changed (no event)."""
    require_role(actor, CATALOG_ROLES, "edit model cards", second_factor=True)
    title = title.strip() or model.name
    if len(title) > 200:
        raise BadRequest("A title is at most 200 characters.", code="invalid_title")
    check_card(card)
    card = card.replace("\r\n", "\n")
    if (title, card) == (model.title, model.card):
        return False
    pairs = (("title", model.title, title), ("card", model.card, card))
    changed = [field for field, old, new in pairs if old != new]
    model.title, model.card = title, card
    record(session, EventTag.CARD_EDITED, actor, model=model.ref, data={"changed": changed})
    session.commit()
    return True


@dataclass(frozen=True)
class RevisionRow:
    commit: str
    message: str
    published_at: datetime
    published_by: str | None
    files: int
    size: int
    tags: tuple[str, ...]


def revision_rows(session: Session, model: Model) -> list[RevisionRow]:
    """The model's revisions, newest first, with their file count, size and tags
    (three queries, however many revisions)."""
    totals = (
        select(File.revision_id, func.count(File.id).label("n"), func.sum(File.size).label("size"))
        .join(Revision, Revision.id == File.revision_id)
        .where(Revision.model_id == model.id)
        .group_by(File.revision_id)
        .subquery()
    )
    query = (
        select(Revision, User.email, totals.c.n, totals.c.size)
        .outerjoin(User, User.id == Revision.published_by_id)
        .outerjoin(totals, totals.c.revision_id == Revision.id)
        .where(Revision.model_id == model.id)
        .order_by(Revision.id.desc())
    )
    tags: dict[int, list[str]] = {}
    for revision_id, tag in session.execute(
        select(RevisionTag.revision_id, RevisionTag.name)
        .where(RevisionTag.model_id == model.id)
        .order_by(RevisionTag.name)
    ):
        tags.setdefault(revision_id, []).append(tag)
    return [
        RevisionRow(
            commit=rev.commit,
            message=rev.message,
            published_at=rev.published_at,
            published_by=email,
            files=int(n or 0),
            size=int(size or 0),
            tags=tuple(tags.get(rev.id, ())),
        )
        for rev, email, n, size in session.execute(query)
    ]
