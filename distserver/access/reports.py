"""Read-side views of access as plain dicts, shared by the API, the web pages and
the CLI: an application, the "my access" summary, and the access report
(user, e-mail, tier, model, status, decided by, decided at) as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from distserver.access.models import (
    AgreementAcceptance,
    Application,
    Grant,
    Membership,
    Organization,
)
from distserver.access.organizations import current_agreement
from distserver.access.tiers import Tier
from distserver.accounts.models import User
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.identity import Principal, require_role
from distserver.spreadsheets import spreadsheet_cell

REPORT_ROLES = frozenset({"reviewer", "admin", "auditor"})
REPORT_COLUMNS = (
    "application_id", "user", "email", "tier", "model", "status", "decided_by", "decided_at",
    "reason", "renewal", "grant_id", "grant_expires_at", "created_at",
)  # fmt: skip


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def application_dict(
    session: Session, application: Application, *, with_history: bool = False
) -> dict[str, Any]:
    """An application as the applicant and reviewers see it (with_history adds the
    applicant's other applications, for the review queue)."""
    user = session.get(User, application.user_id)
    model = session.get(Model, application.model_id)
    decider = session.get(User, application.decided_by_id) if application.decided_by_id else None
    assert user is not None
    assert model is not None
    out: dict[str, Any] = {
        "id": application.id,
        "user": user.email,
        "model": model.ref,
        "tier": application.tier,
        "status": application.status,
        "answers": json.loads(application.answers or "{}"),
        "agreement_sha256": application.agreement_sha256,
        "agreement_version": application.agreement_version,
        "renewal_of": application.renewal_of_id,
        "created_at": iso(application.created_at),
        "decided_at": iso(application.decided_at),
        "decided_by": decider.email
        if decider
        else ("auto" if application.decided_at and application.status == "approved" else None),
        "reason": application.reason,
        "grant_id": application.grant_id,
    }
    if with_history:
        others = session.scalars(
            select(Application)
            .where(Application.user_id == user.id, Application.id != application.id)
            .order_by(Application.created_at.desc())
        )
        out["history"] = [
            {
                "id": a.id,
                "tier": a.tier,
                "status": a.status,
                "created_at": iso(a.created_at),
                "reason": a.reason,
            }
            for a in others
        ]
    return out


def my_access(
    session: Session, user_id: int, tiers: Mapping[str, Tier], now: datetime | None = None
) -> dict[str, Any]:
    """What a user holds and asked for: applications, grants (with expiry and state),
    organisation memberships and the agreements accepted (and whether current)."""
    now = now or utcnow()
    applications = [
        application_dict(session, a)
        for a in session.scalars(
            select(Application)
            .where(Application.user_id == user_id)
            .order_by(Application.created_at.desc())
        )
    ]
    grants = []
    for g in session.scalars(select(Grant).where(Grant.user_id == user_id).order_by(Grant.id)):
        model = session.get(Model, g.model_id) if g.model_id else None
        state = (
            "revoked"
            if g.revoked_at
            else ("expired" if g.expires_at and g.expires_at <= now else "active")
        )
        grants.append({
            "id": g.id, "tier": g.tier, "model": model.ref if model else None,
            "source": g.source, "created_at": iso(g.created_at),
            "expires_at": iso(g.expires_at), "revoked_at": iso(g.revoked_at), "state": state,
        })  # fmt: skip
    orgs = []
    rows = session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
    )
    for org, role in rows:
        signed = current_agreement(session, org, tiers, now)
        orgs.append({
            "slug": org.slug, "name": org.name, "tier": org.tier, "role": role,
            "agreement_current": signed is not None,
            "agreement_expires_at": iso(signed.expires_at) if signed else None,
        })  # fmt: skip
    current = {a.sha256 for t in tiers.values() for a in _all_agreements(t)}
    agreements = [
        {
            "agreement": a.agreement,
            "version": a.version,
            "sha256": a.sha256,
            "accepted_at": iso(a.accepted_at),
            "current": a.sha256 in current,
        }
        for a in session.scalars(
            select(AgreementAcceptance)
            .where(AgreementAcceptance.user_id == user_id)
            .order_by(AgreementAcceptance.accepted_at)
        )
    ]
    return {"applications": applications, "grants": grants, "organizations": orgs,
            "agreements": agreements}  # fmt: skip


def _all_agreements(tier: Tier) -> list[Any]:
    found = [tier.agreement] if tier.agreement else []
    return found + [t.agreement for t in tier.extras.values() if t.agreement]


def access_report(session: Session, actor: Principal) -> list[dict[str, Any]]:
    """One row per application, newest first (reviewers, admins and auditors)."""
    require_role(actor, REPORT_ROLES, "read the access report", allow_system=True)
    decider = aliased(User)
    rows = session.execute(
        select(Application, User, Model, decider.email, Grant.expires_at)
        .join(User, User.id == Application.user_id)
        .join(Model, Model.id == Application.model_id)
        .outerjoin(decider, decider.id == Application.decided_by_id)
        .outerjoin(Grant, Grant.id == Application.grant_id)
        .order_by(Application.created_at.desc(), Application.id.desc())
    )
    report = []
    for a, user, model, decided_by, grant_expires in rows:
        auto = a.status == "approved" and a.decided_by_id is None
        report.append({
            "application_id": a.id, "user": user.display_name, "email": user.email,
            "tier": a.tier, "model": model.ref, "status": a.status,
            "decided_by": decided_by or ("auto" if auto else None),
            "decided_at": iso(a.decided_at), "reason": a.reason,
            "renewal": a.renewal_of_id is not None, "grant_id": a.grant_id,
            "grant_expires_at": iso(grant_expires), "created_at": iso(a.created_at),
        })  # fmt: skip
    return report


def report_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: spreadsheet_cell(v) for k, v in row.items()})
    return out.getvalue()
