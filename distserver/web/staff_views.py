"""Staff pages under /staff: the release console of a model (gate checklist, evidence,
transitions, timeline), an index of models and what blocks their next gate, and the
audit pages (filters, charts, exports, per-user and per-model reports).

Thin views: the release services decide roles, the second factor and separation of
duties (their refusals are flashed with the service's own sentence); the audit reads
go through distserver.audit.queries, the same code as GET /api/v1/audit/events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response as Redirect
from wtforms import BooleanField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from distserver import guards
from distserver.accounts.sessions import current_principal
from distserver.api.release_views import READ_ROLES
from distserver.app_runtime import current_runtime
from distserver.audit import queries
from distserver.catalog.models import Model
from distserver.downloads.statistics import model_statistics
from distserver.errors import BadRequest, DistserverError
from distserver.extensions import db
from distserver.identity import require_role
from distserver.paging import keyset_args
from distserver.releases import services
from distserver.releases.evidence import EVIDENCE_ROLES, TRANSITION_ROLES
from distserver.releases.gates import gate_status, gate_statuses
from distserver.releases.models import ReleaseState
from distserver.web.staff_charts import daily_chart, statistics_charts

staff = Blueprint("staff", __name__, url_prefix="/staff")
CHART_DAYS = 30
ACTIONS = (
    ("", "any action"),
    ("download", "downloads (every download event)"),
    ("download:link:issued", "download links issued"),
    ("download:link:refused", "download links refused"),
    ("release", "release actions"),
    ("access", "access: grants, applications"),
    ("account", "accounts: sign-ins, roles"),
    ("catalog", "catalog: models, revisions"),
)


class EvaluationForm(FlaskForm):
    name = SelectField("Evaluation", choices=[])
    result = SelectField(
        "Result", choices=[SelectChoice("pass", "pass"), SelectChoice("fail", "fail")]
    )
    report = StringField("Report reference", validators=[DataRequired(), Length(1, 500)])
    submit = SubmitField("Record evaluation")


class NoteForm(FlaskForm):
    note = StringField("Note (optional)", validators=[Length(max=500)])
    submit = SubmitField("Submit")


CONFIRM = "Tick the box to confirm this dangerous action."


class DemoteForm(NoteForm):
    """A danger action: refused unless its confirmation box is ticked (works without
    JavaScript; the box is `required` in the page too)."""

    confirm = BooleanField(
        "I understand that the tiers of this stage lose access", validators=[DataRequired(CONFIRM)]
    )


class HaltForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(1, 500)])
    confirm = BooleanField(
        "I understand that every download of this model stops now",
        validators=[DataRequired(CONFIRM)],
    )
    submit = SubmitField("Halt distribution")


# ---------------------------------------------------------------- release console


@staff.get("/")
@login_required
def index() -> str:
    principal = current_principal()
    require_role(principal, READ_ROLES, "read the release consoles")
    plans = current_runtime().plans
    states = {s.model_id: s for s in db.session.scalars(select(ReleaseState))}
    models = [
        (m, states[m.id])
        for m in db.session.scalars(select(Model).order_by(Model.namespace, Model.name))
        if m.id in states
    ]
    statuses = gate_statuses(db.session, models, plans)
    rows = [(model, statuses[model.id]) for model, _ in models]
    return render_template("staff/index.html", rows=rows)


@staff.get("/models/<namespace>/<name>/release")
@login_required
def release_console(namespace: str, name: str) -> str:
    principal, model = guards.staff_model(namespace, name, READ_ROLES, scope="read")
    plan = current_runtime().plans[model.plan]
    state = services.release_state(db.session, model)
    status = gate_status(db.session, model, current_runtime().plans, state=state)
    wanted = plan.stage(status.next_stage).gate.evaluations if status.next_stage else ()
    evaluation = EvaluationForm(formdata=None)
    evaluation.name.choices = [SelectChoice(n, n) for n in wanted]
    statistics = model_statistics(db.session, model.ref, days=CHART_DAYS)
    from distserver.fingerprint.copy_reports import copy_overview
    from distserver.fingerprint.preparation import progress_of

    overview = copy_overview(db.session, model.id)  # one statement
    return render_template(
        "staff/release.html",
        copies=overview.recipients,
        pending_copies=[(t, progress_of(t)) for t in overview.pending],
        model=model,
        plan=plan,
        status=status,
        halt_reason=state.halt_reason,
        timeline=services.timeline_page(db.session, model, keyset_args(request.args)),
        previous=plan.previous_stage(status.stage),
        may_record=bool(principal.roles & EVIDENCE_ROLES),
        may_move=bool(principal.roles & TRANSITION_ROLES),
        proved=principal.second_factor,
        evaluation=evaluation,
        note=NoteForm(formdata=None),
        halt=HaltForm(formdata=None),
        demotion=DemoteForm(formdata=None),
        statistics=statistics,
        may_audit=bool(principal.roles & queries.AUDIT_ROLES),
        statistics_charts=statistics_charts(statistics),
    )


def _act(namespace: str, name: str, form: FlaskForm, action, done: str) -> Redirect:  # type: ignore[no-untyped-def]
    """Run one release service for the signed-in person; flash its outcome or refusal."""
    principal, model = guards.staff_model(namespace, name, READ_ROLES, scope="read")
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
    else:
        try:
            action(principal, model)
            flash(done, "info")
        except DistserverError as exc:
            flash(exc.message, "error")
    return redirect(url_for("staff.release_console", namespace=namespace, name=name))


@staff.post("/models/<namespace>/<name>/release/evaluations")
@login_required
def evaluate(namespace: str, name: str) -> Redirect:
    form = EvaluationForm()
    form.name.choices = [SelectChoice(form.name.data or "", "")]  # the service checks it
    plans = current_runtime().plans
    return _act(
        namespace,
        name,
        form,
        lambda who, model: services.evaluate(
            db.session, model, plans, form.name.data, form.result.data, form.report.data, who
        ),
        f"Evaluation {form.name.data} recorded.",
    )


@staff.post("/models/<namespace>/<name>/release/signoffs")
@login_required
def signoff(namespace: str, name: str) -> Redirect:
    form = NoteForm()
    plans = current_runtime().plans
    return _act(
        namespace,
        name,
        form,
        lambda who, model: services.signoff(db.session, model, plans, who, form.note.data or ""),
        "Your sign-off is recorded.",
    )


@staff.post("/models/<namespace>/<name>/release/promote")
@login_required
def promote(namespace: str, name: str) -> Redirect:
    form = NoteForm()
    plans = current_runtime().plans
    return _act(
        namespace,
        name,
        form,
        lambda who, model: services.promote(db.session, model, plans, who, form.note.data or ""),
        "Promoted to the next stage.",
    )


@staff.post("/models/<namespace>/<name>/release/demote")
@login_required
def demote(namespace: str, name: str) -> Redirect:
    form = DemoteForm()
    plans = current_runtime().plans
    return _act(
        namespace,
        name,
        form,
        lambda who, model: services.demote(db.session, model, plans, who, form.note.data or ""),
        "Demoted to the previous stage.",
    )


@staff.post("/models/<namespace>/<name>/release/halt")
@login_required
def halt(namespace: str, name: str) -> Redirect:
    form = HaltForm()
    return _act(
        namespace,
        name,
        form,
        lambda who, model: services.halt(db.session, model, form.reason.data or "", who),
        "Distribution is halted: no new link is issued and outstanding links are refused.",
    )


@staff.post("/models/<namespace>/<name>/release/resume")
@login_required
def resume(namespace: str, name: str) -> Redirect:
    form = NoteForm()
    return _act(
        namespace,
        name,
        form,
        lambda who, model: services.resume(db.session, model, who, form.note.data or ""),
        "Distribution resumed.",
    )


# ---------------------------------------------------------------- audit


def _audit_page(
    template: str, where: queries.EventFilter, chart_by: tuple[str, ...], **extra: Any
) -> str:
    queries.require_auditor(current_principal())
    page = queries.events_page(db.session, where, keyset_args(request.args))
    now = datetime.now(UTC)
    # The charts cover the model and user filters; they always count issued links.
    scope = queries.EventFilter(model=where.model, user=where.user)
    charts = [
        daily_chart(
            f"chart-{by}",
            f"Downloads per day by {by}, last {CHART_DAYS} days",
            queries.downloads_per_day(db.session, by, days=CHART_DAYS, now=now, where=scope),
            now.date(),
            CHART_DAYS,
        )
        for by in chart_by
    ]
    return render_template(
        template,
        where=where,
        page=page,
        charts=charts,
        actions=ACTIONS,
        export_args=where.args(),
        **extra,
    )


@staff.get("/audit")
@login_required
def audit() -> str:
    return _audit_page("staff/audit.html", queries.parse_filter(request.args), ("tier", "model"))


@staff.get("/audit/users/<path:email>")
@login_required
def audit_user(email: str) -> str:
    where = queries.EventFilter(user=email, action=queries.DOWNLOAD_TAG)
    return _audit_page("staff/report.html", where, ("model",), subject=email, kind="user")


@staff.get("/audit/models/<namespace>/<name>")
@login_required
def audit_model(namespace: str, name: str) -> str:
    ref = f"{namespace}/{name}"
    where = queries.EventFilter(model=ref, action=queries.DOWNLOAD_TAG)
    return _audit_page("staff/report.html", where, ("tier",), subject=ref, kind="model")


@staff.get("/audit/export")
@login_required
def audit_export() -> Response:
    queries.require_auditor(current_principal())
    kind = request.args.get("format", "csv")
    if kind not in ("csv", "jsonl"):
        raise BadRequest("'format' is csv or jsonl.", code="invalid_parameter")
    where = queries.parse_filter(request.args)
    lines = queries.export_csv if kind == "csv" else queries.export_jsonl
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    mimetype = "text/csv" if kind == "csv" else "application/x-ndjson"
    return Response(
        stream_with_context(lines(db.session, where)),
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="audit-events-{stamp}.{kind}"',
            "Cache-Control": "no-store",
        },
    )
