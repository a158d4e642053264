"""Alerts as records: raising one (with its audit event, webhook deliveries, staff
mail and optional brake, all in the evaluator's transaction), listing, and a
person's acknowledgement or dismissal (which releases the brake). Each function
that changes state records an audit event; the public ones own their transaction."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from distserver.accounts.models import ApiToken, User, UserRole
from distserver.alerts.models import STATES, Alert, AlertBrake
from distserver.alerts.rules import DEFAULTS, AlertRules
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.db import utcnow
from distserver.errors import BadRequest, Conflict, NotFound
from distserver.identity import Principal

log = logging.getLogger("distserver.alerts")

# Who may read alerts, and who may acknowledge or dismiss them.
READERS = frozenset({"admin", "safety", "auditor"})
DECIDERS = frozenset({"admin", "safety"})
# Staff mailed when an alert is raised.
MAIL_ROLES = ("admin", "safety")
MAX_KEY = 2**63 - 1
WEBHOOK_EVENTS = ("alert.raised", "alert.acknowledged", "alert.dismissed")


def current_rules() -> AlertRules:
    if has_app_context():
        return current_app.extensions.get("distserver.alert_rules", DEFAULTS)
    return DEFAULTS


def payload(alert: Alert) -> dict[str, Any]:
    """An alert as the API, the webhooks and the CLI show it."""
    return {
        "id": alert.id,
        "rule": alert.rule,
        "principal": alert.principal,
        "window_key": alert.window_key,
        "raised_at": alert.raised_at.isoformat(),
        "model": alert.model,
        "summary": alert.summary,
        "evidence": alert.evidence_seqs,
        "details": alert.detail,
        "state": alert.state,
        "note": alert.note,
        "decided_at": alert.decided_at.isoformat() if alert.decided_at else None,
    }


def raised(session: Session, alert: Alert, rules: AlertRules) -> None:
    """What follows a new alert, in the caller's transaction: its audit event, the
    `alert.raised` webhooks, staff mail (sent by job after commit) and the rule's brake."""
    record(
        session,
        EventTag.ALERT_RAISED,
        None,
        model=alert.model,
        reason=alert.rule,
        data={"alert_id": alert.id, "principal": alert.principal, "evidence": alert.evidence_seqs},
    )
    from distserver.access import webhooks

    webhooks.emit(session, "alert.raised", payload(alert))
    rule = rules.by_name().get(alert.rule)
    if rule is not None and rule.brake == "suspend_tokens" and alert.user_id is not None:
        apply_brake(session, alert)
    _mail_staff(session, alert)


def _mail_staff(session: Session, alert: Alert) -> None:
    from distserver.mail import send_mail

    staff = session.scalars(
        select(User.email)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role.in_(MAIL_ROLES), User.suspended_at.is_(None))
        .distinct()
        .order_by(User.email)
    )
    body = (
        f"Rule {alert.rule} raised alert {alert.id} about {alert.principal}:\n"
        f"{alert.summary}\n\nEvidence (sealed audit log sequence numbers): "
        f"{', '.join(map(str, alert.evidence_seqs))}\n"
        f"Review it with `distserver alerts list` or on the Alerts page.\n"
    )
    for email in staff:
        try:
            send_mail(email, f"Alert {alert.id}: {alert.rule}", body)
        except Exception:  # mail is best effort; the alert stands
            log.exception("could not mail alert %s", alert.id)


def apply_brake(session: Session, alert: Alert) -> AlertBrake:
    """Suspend every live API token of the alert's user until a person acknowledges
    the alert. Suspension is revocation stamped with the brake's time, which every
    door already checks (the download fast path hands such a token to the full path,
    which answers with the brake's reason)."""
    now = utcnow()
    live = select(ApiToken).where(ApiToken.user_id == alert.user_id, ApiToken.revoked_at.is_(None))
    tokens = list(session.scalars(live))
    for token in tokens:
        token.revoked_at = now
    assert alert.user_id is not None
    brake = AlertBrake(
        alert_id=alert.id,
        user_id=alert.user_id,
        kind="suspend_tokens",
        token_ids=json.dumps([t.id for t in tokens]),
        applied_at=now,
    )
    session.add(brake)
    session.flush()
    record(
        session,
        EventTag.BRAKE_APPLIED,
        None,
        model=alert.model,
        reason=alert.rule,
        data={"alert_id": alert.id, "user_id": alert.user_id, "token_ids": [t.id for t in tokens]},
    )
    return brake


def _release_brake(session: Session, alert: Alert, actor: Principal) -> None:
    brake = session.scalar(
        select(AlertBrake).where(AlertBrake.alert_id == alert.id, AlertBrake.released_at.is_(None))
    )
    if brake is None:
        return
    ids = json.loads(brake.token_ids)
    restored = []
    for token in session.scalars(select(ApiToken).where(ApiToken.id.in_(ids))):
        # Only tokens nobody revoked since: the brake's own stamp.
        if token.revoked_at == brake.applied_at:
            token.revoked_at = None
            restored.append(token.id)
    brake.released_at = utcnow()
    record(
        session,
        EventTag.BRAKE_RELEASED,
        actor,
        model=alert.model,
        reason=alert.rule,
        data={"alert_id": alert.id, "user_id": brake.user_id, "token_ids": restored},
    )


def brake_refusal(session: Session, token: ApiToken) -> str | None:
    """The sentence for a token an alert's brake suspended (None: not braked)."""
    if token.revoked_at is None:
        return None
    row = session.execute(
        select(Alert.id, Alert.rule, AlertBrake.token_ids)
        .join(AlertBrake, AlertBrake.alert_id == Alert.id)
        .where(
            AlertBrake.user_id == token.user_id,
            AlertBrake.released_at.is_(None),
            AlertBrake.applied_at == token.revoked_at,
        )
        .order_by(AlertBrake.id.desc())
        .limit(1)
    ).first()
    if row is None or token.id not in json.loads(row.token_ids):
        return None
    return (
        f"This token is suspended while alert {row.id} ({row.rule}) awaits review; "
        f"contact {current_rules().contact} to have it looked at."
    )


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None
    rule: str | None = None
    principal: str | None = None
    since: datetime | None = None
    limit: int = 100

    def check(self) -> AlertFilter:
        if self.state is not None and self.state not in STATES:
            raise BadRequest(f"state must be one of {', '.join(STATES)}.", code="invalid_state")
        if not 1 <= self.limit <= 1000:
            raise BadRequest("limit must be between 1 and 1000.", code="invalid_limit")
        return self


def list_alerts(session: Session, f: AlertFilter) -> list[Alert]:
    f.check()
    query = select(Alert).order_by(Alert.id.desc()).limit(f.limit)
    if f.state:
        query = query.where(Alert.state == f.state)
    if f.rule:
        query = query.where(Alert.rule == f.rule)
    if f.principal:
        query = query.where(Alert.principal == f.principal)
    if f.since:
        query = query.where(Alert.raised_at >= f.since)
    return list(session.scalars(query))


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"No alert {alert_id}.", code="alert_not_found")
    return alert


def decide_alert(session: Session, alert_id: int, state: str, note: str, actor: Principal) -> Alert:
    """Acknowledge (with a note) or dismiss an open alert; either releases its brake."""
    from distserver.identity import require_role

    require_role(actor, DECIDERS, "acknowledge or dismiss alerts", allow_system=True)
    if state not in ("acknowledged", "dismissed"):
        raise BadRequest("An alert is acknowledged or dismissed.", code="invalid_state")
    if not 0 <= alert_id <= MAX_KEY:  # a 64-bit key; larger would overflow the driver
        raise NotFound(f"No alert {alert_id}.", code="alert_not_found")
    note = (note or "").strip()
    if state == "acknowledged" and not note:
        raise BadRequest("Acknowledging an alert needs a note.", code="note_required")
    alert = session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
    if alert is None:
        raise NotFound(f"No alert {alert_id}.", code="alert_not_found")
    if alert.state != "open":
        raise Conflict(f"Alert {alert_id} is already {alert.state}.", code="alert_closed")
    alert.state, alert.note = state, note[:2000] or None
    alert.decided_by_id, alert.decided_at = actor.user_id, utcnow()
    tag = EventTag.ALERT_ACKNOWLEDGED if state == "acknowledged" else EventTag.ALERT_DISMISSED
    record(
        session,
        tag,
        actor,
        model=alert.model,
        reason=alert.rule,
        data={"alert_id": alert.id, "principal": alert.principal, "note": alert.note},
    )
    _release_brake(session, alert, actor)
    from distserver.access import webhooks

    webhooks.emit(session, f"alert.{state}", payload(alert))
    session.commit()
    return alert
