"""E-mail about access, sent through distserver.mail after the change has committed
(a mail failure is logged and never undoes a decision).

- the applicant, on each decision (with the reason on a rejection);
- reviewers, on each new application awaiting review, until more than
  APPLICATION_DIGEST_THRESHOLD (setting, default 10) are pending: then only the
  digest (`distserver applications digest`) mails them, one summary each;
- grant holders, before their grant expires (`distserver grants remind`).

Links in them come from distserver.urls (EXTERNAL_URL), never from a request."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.access.models import Application, Grant
from distserver.accounts.models import User, UserRole
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.catalog.models import Model
from distserver.db import utcnow
from distserver.identity import SYSTEM
from distserver.mail import send_mail
from distserver.urls import external_url

log = logging.getLogger("distserver")
DEFAULT_DIGEST_THRESHOLD = 10


def _send(to: str, subject: str, body: str) -> bool:
    try:
        send_mail(to, subject, body)
        return True
    except Exception:  # mail is best effort; the change stands
        log.exception("could not send mail %r", subject)
        return False


def decision(user: User, model_ref: str, application: Application) -> None:
    if application.status == "approved":
        subject = f"Access approved: {application.tier} for {model_ref}"
        body = (
            f"Your application #{application.id} for the {application.tier} tier on "
            f"{model_ref} was approved. You can download the model now."
        )
    elif application.status == "rejected":
        subject = f"Application not approved: {application.tier} for {model_ref}"
        body = (
            f"Your application #{application.id} for the {application.tier} tier on "
            f"{model_ref} was not approved.\n\nReason given by the reviewer:\n"
            f"{application.reason}\n"
        )
    else:
        return
    _send(user.email, subject, f"{body}\n\n{_model_link(model_ref)}\n")


def _model_link(model_ref: str) -> str:
    namespace, _, name = model_ref.partition("/")
    return external_url("web.model_page", namespace=namespace, name=name)


def reviewers(session: Session) -> list[User]:
    """Users with the reviewer role; admins when there are none."""
    for role in ("reviewer", "admin"):
        users = list(
            session.scalars(
                select(User)
                .join(UserRole, UserRole.user_id == User.id)
                .where(UserRole.role == role, User.suspended_at.is_(None))
                .order_by(User.email)
            )
        )
        if users:
            return users
    return []


def pending_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(Application.status == "pending")) or 0


def new_application(session: Session, application: Application, user: User, model_ref: str) -> None:
    threshold = int(
        current_app.config.get("APPLICATION_DIGEST_THRESHOLD", DEFAULT_DIGEST_THRESHOLD)
    )
    if pending_count(session) > threshold:
        return  # the digest tells reviewers about the backlog
    for reviewer in reviewers(session):
        if reviewer.id == user.id:
            continue
        _send(
            reviewer.email,
            f"New application: {application.tier} for {model_ref}",
            f"{user.email} applied for the {application.tier} tier on {model_ref} "
            f"(application #{application.id}). It waits in the review queue:\n\n"
            f"{external_url('web.review')}\n",
        )


def send_digest(session: Session) -> int:
    """One summary of every pending application to each reviewer; returns mails sent."""
    rows = session.execute(
        select(Application, User.email, Model.namespace, Model.name)
        .join(User, User.id == Application.user_id)
        .join(Model, Model.id == Application.model_id)
        .where(Application.status == "pending")
        .order_by(Application.created_at)
    ).all()
    if not rows:
        return 0
    lines = [
        f"#{a.id}  {a.created_at.date().isoformat()}  {email}  {a.tier}  {ns}/{name}"
        + ("  (renewal)" if a.renewal_of_id else "")
        for a, email, ns, name in rows
    ]
    body = (
        f"{len(rows)} application(s) wait for review:\n\n"
        + "\n".join(lines)
        + f"\n\nThe review queue: {external_url('web.review')}\n"
    )
    sent = 0
    for reviewer in reviewers(session):
        sent += _send(reviewer.email, f"{len(rows)} applications wait for review", body)
    return sent


def remind_expiring(session: Session, days: int, now: datetime | None = None) -> int:
    """Mail each holder of a live grant expiring within `days` (once per grant);
    returns how many were reminded. Each reminder is audited."""
    now = now or utcnow()
    grants = list(
        session.scalars(
            select(Grant).where(
                Grant.revoked_at.is_(None),
                Grant.expires_at.is_not(None),
                Grant.expires_at > now,
                Grant.expires_at <= now + timedelta(days=days),
                Grant.reminded_at.is_(None),
            )
        )
    )
    reminded = 0
    for grant in grants:
        user = session.get(User, grant.user_id)
        model = session.get(Model, grant.model_id) if grant.model_id else None
        assert user is not None
        assert grant.expires_at is not None
        where = model.ref if model else "all models"
        ok = _send(
            user.email,
            f"Your {grant.tier} access to {where} expires on {grant.expires_at.date().isoformat()}",
            f"Your {grant.tier} grant (#{grant.id}) for {where} expires on "
            f"{grant.expires_at.isoformat()}. Request a renewal from your access page, "
            f"{external_url('web.my_access')}, or POST /api/v1/grants/{grant.id}/renew.\n",
        )
        if ok:
            grant.reminded_at = now
            record(
                session,
                EventTag.GRANT_REMINDED,
                SYSTEM,
                model=model.ref if model else None,
                tier=grant.tier,
                data={"grant_id": grant.id, "user": user.email},
            )
            session.commit()
            reminded += 1
    return reminded
