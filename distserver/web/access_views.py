"""The application form for a tier on a model, and "my access" (applications with
their status and any rejection reason, grants with expiry and renewal, agreements
accepted). Submissions go through access.applications, which enforces every rule."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from distserver.access import applications
from distserver.accounts.forms import ConfirmForm
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.web import web
from distserver.web.forms import RenewForm, application_form
from distserver.web.model_views import visible_model
from distserver.web.queries import my_access_page

Page = str | Response | tuple[str, int]


@web.route("/models/<namespace>/<name>/apply", methods=["GET", "POST"])
@login_required
def apply(namespace: str, name: str) -> Page:
    rt = current_runtime()
    model, _state = visible_model(namespace, name)
    plan_tiers = frozenset(t for s in rt.plans[model.plan].stages for t in s.tiers)
    tier = rt.tiers.get(request.args.get("tier") or "")
    if tier is None or tier.qualification != "application" or tier.name not in plan_tiers:
        abort(404, f"{model.ref} takes no applications for that tier.")
    fields = tier.form_for(model.ref)
    agreements = tier.agreements_for(model.ref)
    form = application_form(fields, agreements)
    extra = tier.extras.get(model.ref)
    if form.validate_on_submit():
        try:
            applications.submit(
                db.session,
                rt.tiers,
                current_user,
                model,
                tier.name,
                form.answers(fields),
                actor=current_principal(),
                agreement_sha256=form.agreement_sha256.data or None,
                model_agreement_sha256=form.model_agreement_sha256.data or None,
                plan_tiers=plan_tiers,
            )
        except DistserverError as exc:
            flash(exc.message, "error")
        else:
            flash(f"Your {tier.title} application for {model.ref} was sent.", "info")
            return redirect(url_for("web.my_access"))
    # The versions shown are the versions accepted: a change in between is refused.
    form.agreement_sha256.data = tier.agreement.sha256 if tier.agreement else ""
    form.model_agreement_sha256.data = extra.agreement.sha256 if extra and extra.agreement else ""
    status = 400 if request.method == "POST" else 200
    return render_template(
        "apply.html",
        model=model,
        tier=tier,
        form=form,
        fields=fields,
        agreements=agreements,
        answer_fields=[getattr(form, "answer_" + f.name) for f in fields],
    ), status


@web.get("/access")
@login_required
def my_access() -> str:
    rt = current_runtime()
    summary = my_access_page(db.session, current_user.id, rt.tiers)
    renewable = [g for g in summary["grants"] if g["model"] and g["state"] != "revoked"]
    return render_template(
        "my_access.html",
        summary=summary,
        renew_forms={g["id"]: RenewForm(prefix=f"g{g['id']}", formdata=None) for g in renewable},
        confirm=ConfirmForm(formdata=None),
        tiers=rt.tiers,
    )


@web.post("/access/grants/<int:grant_id>/renew")
@login_required
def renew(grant_id: int) -> Response:
    rt = current_runtime()
    form = RenewForm(prefix=f"g{grant_id}")
    if not form.validate_on_submit():
        flash("Tick the box to accept the current agreement before asking to renew.", "error")
        return redirect(url_for("web.my_access"))
    principal = current_principal()
    try:
        grant_tier = _grant_tier(grant_id)
        tier = rt.tiers[grant_tier[0]]
        extra = tier.extras.get(grant_tier[1])
        applications.renew(
            db.session,
            rt.tiers,
            grant_id,
            principal,
            agreement_sha256=tier.agreement.sha256 if tier.agreement else None,
            model_agreement_sha256=extra.agreement.sha256 if extra and extra.agreement else None,
        )
    except DistserverError as exc:
        flash(exc.message, "error")
    else:
        flash("Your renewal request was sent to the reviewers.", "info")
    return redirect(url_for("web.my_access"))


def _grant_tier(grant_id: int) -> tuple[str, str]:
    from distserver.web.queries import own_grant

    found = own_grant(db.session, current_user.id, grant_id)
    if found is None:
        abort(404, f"No grant {grant_id}.")
    return found


@web.post("/access/applications/<int:app_id>/withdraw")
@login_required
def withdraw(app_id: int) -> Response:
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            applications.withdraw(db.session, app_id, current_principal())
        except DistserverError as exc:
            flash(exc.message, "error")
        else:
            flash("Your application was withdrawn.", "info")
    return redirect(url_for("web.my_access"))
