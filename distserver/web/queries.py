"""Read-only queries behind the pages, shaped so that each page costs a fixed
number of database statements whatever the number of rows (rows the services look
up one by one with session.get are loaded first in one statement, so the identity
map answers them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from distserver.access import applications as apps
from distserver.access.models import Application, Grant
from distserver.access.reports import application_dict, iso, my_access
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.audit.models import AuditEvent
from distserver.catalog.models import Model
from distserver.downloads.models import DownloadLink
from distserver.identity import Principal
from distserver.releases.models import ReleaseState, Signoff
from distserver.releases.plans import Plan


def my_access_page(session: Session, user_id: int, tiers: Mapping[str, Tier]) -> dict[str, Any]:
    """reports.my_access, with the models and deciders it reads loaded up front."""
    mine = or_(
        Model.id.in_(select(Application.model_id).where(Application.user_id == user_id)),
        Model.id.in_(select(Grant.model_id).where(Grant.user_id == user_id)),
    )
    deciders = select(Application.decided_by_id).where(Application.user_id == user_id)
    # Held while my_access runs: the identity map keeps rows only weakly.
    held = [
        *session.scalars(select(Model).where(mine)),
        *session.scalars(select(User).where(User.id.in_(deciders))),
    ]
    summary = my_access(session, user_id, tiers)
    del held
    return summary


def own_grant(session: Session, user_id: int, grant_id: int) -> tuple[str, str] | None:
    """(tier, model ref) of one of the user's own per-model grants."""
    row = session.execute(
        select(Grant.tier, Model.namespace, Model.name)
        .join(Model, Model.id == Grant.model_id)
        .where(Grant.id == grant_id, Grant.user_id == user_id)
    ).first()
    return (row[0], f"{row[1]}/{row[2]}") if row else None


@dataclass(frozen=True)
class QueueFilters:
    status: str | None = "pending"
    tier: str | None = None
    model: Model | None = None


def find_model_ref(session: Session, ref: str) -> Model | None:
    ns, _, name = ref.partition("/")
    return session.scalar(select(Model).where(Model.namespace == ns, Model.name == name))


def review_queue(
    session: Session, actor: Principal, filters: QueueFilters, limit: int = 50
) -> list[dict[str, Any]]:
    """The queue (access.applications.queue, which checks the role) with each
    application's answers and the applicant's other applications."""
    rows = apps.queue(
        session,
        actor,
        status=filters.status,
        tier=filters.tier,
        model=filters.model,
        limit=limit,
    )
    if not rows:
        return []
    people = {a.user_id for a in rows} | {a.decided_by_id for a in rows if a.decided_by_id}
    # Held while application_dict runs: the identity map keeps rows only weakly.
    held = [
        *session.scalars(select(User).where(User.id.in_(people))),
        *session.scalars(select(Model).where(Model.id.in_({a.model_id for a in rows}))),
    ]
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    others = session.execute(
        select(Application, Model.namespace, Model.name)
        .join(Model, Model.id == Application.model_id)
        .where(Application.user_id.in_({a.user_id for a in rows}))
        .order_by(Application.created_at.desc())
    )
    for a, ns, name in others:
        history[a.user_id].append(
            {
                "id": a.id,
                "model": f"{ns}/{name}",
                "tier": a.tier,
                "status": a.status,
                "created_at": iso(a.created_at),
                "reason": a.reason,
            }
        )
    out = []
    for a in rows:
        item = application_dict(session, a)
        item["history"] = [h for h in history[a.user_id] if h["id"] != a.id]
        out.append(item)
    del held
    return out


# Dashboards -------------------------------------------------------------------


def my_applications(session: Session, user_id: int, limit: int = 5) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Application, Model.namespace, Model.name)
        .join(Model, Model.id == Application.model_id)
        .where(Application.user_id == user_id)
        .order_by(Application.created_at.desc())
        .limit(limit)
    )
    return [
        {"id": a.id, "model": f"{ns}/{n}", "tier": a.tier, "status": a.status,
         "reason": a.reason, "created_at": a.created_at}
        for a, ns, n in rows
    ]  # fmt: skip


def my_grants(session: Session, user_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Grant, Model.namespace, Model.name)
        .outerjoin(Model, Model.id == Grant.model_id)
        .where(Grant.user_id == user_id, Grant.revoked_at.is_(None))
        .order_by(Grant.id.desc())
    )
    return [
        {"id": g.id, "tier": g.tier, "model": f"{ns}/{n}" if ns else None,
         "expires_at": g.expires_at}
        for g, ns, n in rows
    ]  # fmt: skip


def recent_downloads(session: Session, user_id: int, limit: int = 5) -> list[dict[str, Any]]:
    rows = session.execute(
        select(DownloadLink, Model.namespace, Model.name)
        .join(Model, Model.id == DownloadLink.model_id)
        .where(DownloadLink.user_id == user_id)
        .order_by(DownloadLink.created_at.desc())
        .limit(limit)
    )
    return [
        {"model": f"{ns}/{n}", "path": d.path, "tier": d.tier, "at": d.created_at}
        for d, ns, n in rows
    ]


def pending_summary(session: Session, limit: int = 5) -> tuple[int, list[dict[str, Any]]]:
    """How many applications wait, and the oldest few (for reviewers' dashboards)."""
    rows = session.execute(
        select(Application, User.email, Model.namespace, Model.name)
        .join(User, User.id == Application.user_id)
        .join(Model, Model.id == Application.model_id)
        .where(Application.status == "pending")
        .order_by(Application.created_at, Application.id)
    ).all()
    items = [
        {"id": a.id, "user": email, "model": f"{ns}/{n}", "tier": a.tier,
         "created_at": a.created_at}
        for a, email, ns, n in rows[:limit]
    ]  # fmt: skip
    return len(rows), items


def awaiting_signoff(
    session: Session, user_id: int, plans: Mapping[str, Plan]
) -> list[dict[str, Any]]:
    """Models whose next gate asks for sign-offs that this person has not given since
    the model entered its stage (the release console has the full checklist)."""
    rows = session.execute(
        select(Model, ReleaseState)
        .join(ReleaseState, ReleaseState.model_id == Model.id)
        .order_by(Model.namespace, Model.name)
    ).all()
    signed = session.execute(
        select(Signoff.model_id, Signoff.stage, Signoff.signed_at).where(Signoff.user_id == user_id)
    ).all()
    out = []
    for model, state in rows:
        target = plans[model.plan].next_stage(state.stage)
        if target is None or not target.gate.signoffs or state.halted_at is not None:
            continue
        done = any(
            m == model.id and s == target.name and at >= state.stage_entered_at
            for m, s, at in signed
        )
        if not done:
            out.append(
                {"namespace": model.namespace, "name": model.name, "ref": model.ref,
                 "stage": state.stage, "next": target.name, "needed": target.gate.signoffs}
            )  # fmt: skip
    return out


def latest_activity(session: Session, limit: int = 10) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))


def load_model(session: Session, namespace: str, name: str) -> tuple[Model, ReleaseState] | None:
    """The model with its release state, in one query. Keep the state referenced:
    the identity map holds rows weakly, and model_facts reads it with session.get."""
    row = session.execute(
        select(Model, ReleaseState)
        .join(ReleaseState, ReleaseState.model_id == Model.id)
        .where(Model.namespace == namespace, Model.name == name)
    ).first()
    return (row[0], row[1]) if row else None
