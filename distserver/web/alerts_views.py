"""The staff Alerts page (/staff/alerts: filters, acknowledge or dismiss with a note)
and the alerts-over-time chart the audit page includes (staff/_alerts_chart.html,
through the `alerts_chart` template global). Routes on the staff blueprint."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.wrappers import Response
from wtforms import StringField, SubmitField
from wtforms.validators import Length

from distserver.accounts.sessions import current_principal
from distserver.alerts import service
from distserver.alerts.models import STATES, Alert
from distserver.alerts.rules import RULE_NAMES
from distserver.audit.queries import DailyCount
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.identity import require_role
from distserver.web.staff_charts import Chart, daily_chart
from distserver.web.staff_views import staff

CHART_DAYS = 30


class DecideForm(FlaskForm):
    note = StringField("Note", validators=[Length(max=2000)])
    acknowledge = SubmitField("Acknowledge")
    dismiss = SubmitField("Dismiss")


@staff.get("/alerts")
@login_required
def alerts_page() -> str:
    require_role(current_principal(), service.READERS, "read alerts")
    state = request.args.get("state") or None
    rule = request.args.get("rule") or None
    principal = request.args.get("principal") or None
    f = service.AlertFilter(
        state=state if state in STATES else None,
        rule=rule if rule in RULE_NAMES else None,
        principal=principal,
    )
    rows = service.list_alerts(db.session, f)
    return render_template(
        "staff/alerts.html",
        rows=rows,
        where=f,
        states=STATES,
        rules=RULE_NAMES,
        form=DecideForm(),
        chart=alerts_chart(),
        may_decide=bool(current_principal().roles & service.DECIDERS),
    )


@staff.post("/alerts/<int:alert_id>")
@login_required
def alerts_decide(alert_id: int) -> Response:
    form = DecideForm()
    if form.validate_on_submit():
        state = "acknowledged" if form.acknowledge.data else "dismissed"
        try:
            service.decide_alert(
                db.session, alert_id, state, form.note.data or "", current_principal()
            )
            flash(f"Alert {alert_id} {state}.", "success")
        except DistserverError as exc:
            db.session.rollback()
            flash(exc.message, "error")
    else:
        flash("The form expired: try again.", "error")
    return redirect(url_for("staff.alerts_page", **cast(dict[str, Any], request.args.to_dict())))


def alerts_chart(days: int = CHART_DAYS) -> Chart:
    """Alerts raised per day over the last `days` days, stacked by rule."""
    now = datetime.now(UTC)
    start = now - timedelta(days=days)
    day = func.date(Alert.raised_at)
    rows = db.session.execute(
        select(day, Alert.rule, func.count())
        .where(Alert.raised_at >= start)
        .group_by(day, Alert.rule)
    ).all()
    counts = [DailyCount(date.fromisoformat(str(d)), rule, n) for d, rule, n in rows]
    title = f"Alerts raised per day by rule, last {days} days"
    return daily_chart("chart-alerts", title, counts, now.date(), days)


def init_alert_pages(app: Flask) -> None:
    app.add_template_global(alerts_chart, "alerts_chart")
