"""The review queue: filters, each application's answers and the applicant's
history, approve or reject with a reason. access.applications.decide checks the
role and the second factor; this page only passes the reviewer's choice on."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from distserver.access import applications
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.web import web
from distserver.web.forms import DecisionForm
from distserver.web.queries import QueueFilters, find_model_ref, review_queue


@web.get("/review")
@login_required
def review() -> str:
    rt = current_runtime()
    principal = current_principal()
    if not principal.roles & applications.REVIEWERS:
        abort(403, "Only reviewer or admin staff may review applications.")
    status = request.args.get("status", "pending")
    if status not in (*applications.STATUSES, "all"):
        abort(400, f"Status is one of {', '.join(applications.STATUSES)} or all.")
    tier = request.args.get("tier") or None
    ref = (request.args.get("model") or "").strip()[:200]
    model = find_model_ref(db.session, ref) if ref else None
    if ref and model is None:
        rows = []
    else:
        filters = QueueFilters(None if status == "all" else status, tier, model)
        rows = review_queue(db.session, principal, filters)
    return render_template(
        "review.html",
        rows=rows,
        forms={r["id"]: DecisionForm(prefix=f"a{r['id']}", formdata=None) for r in rows},
        status=status,
        statuses=applications.STATUSES,
        tier=tier,
        tiers=[t for t in rt.tiers.values() if t.qualification == "application"],
        model_ref=ref,
        second_factor=principal.second_factor,
        labels={
            r["id"]: {f.name: f.label for f in rt.tiers[r["tier"]].form_for(r["model"])}
            for r in rows
            if r["tier"] in rt.tiers
        },
    )


@web.post("/review/<int:app_id>")
@login_required
def review_decide(app_id: int) -> Response:
    form = DecisionForm(prefix=f"a{app_id}")
    back = redirect(url_for("web.review"))
    if not form.validate_on_submit():
        flash("; ".join(e for errs in form.errors.values() for e in errs), "error")
        return back
    choice = "approve" if form.approve.data else "reject"
    try:
        applications.decide(
            db.session,
            current_runtime().tiers,
            [app_id],
            choice,
            form.reason.data,
            current_principal(),
        )
    except DistserverError as exc:
        flash(exc.message, "error")
    else:
        verb = "approved" if choice == "approve" else "rejected"
        flash(f"Application {app_id} {verb}.", "info")
    return back
