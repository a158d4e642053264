"""The lab's console for models, under /staff/models: create a model, its staff page
(card, revisions, grants), edit its card, and manage its grants (add, extend, revoke
after a confirmation page).

Thin views: any staff role may read these pages (a model the visitor may not see is
answered as absent); the services in catalog/editing.py and access/grant_admin.py
decide the roles and the second factor, and their refusals are shown on the page."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from distserver import guards
from distserver.access.grant_admin import (
    GRANT_ROLES,
    extend_grant,
    grant_on_model,
    grant_status,
    model_grants,
)
from distserver.access.models import Grant
from distserver.access.services import revoke_grant
from distserver.accounts.models import STAFF_ROLES, User
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.catalog import editing
from distserver.catalog.models import Model
from distserver.catalog.names import split_ref
from distserver.db import utcnow
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.hf.serializers import card_data
from distserver.identity import Principal
from distserver.releases.services import model_facts
from distserver.web.console_forms import CardForm, ExtendForm, GrantForm, NewModelForm, RevokeForm
from distserver.web.staff_views import staff


def _staff() -> Principal:
    principal = current_principal()
    if principal.suspended or not principal.roles & set(STAFF_ROLES):
        abort(403, "These pages are for the lab's staff.")
    return principal


def _model(namespace: str, name: str) -> tuple[Principal, Model]:
    principal = _staff()
    return principal, guards.visible_model(namespace, name, principal)


def _errors(form) -> list[str]:  # type: ignore[no-untyped-def]
    return [f"{getattr(form, k).label.text}: {e}" for k, errs in form.errors.items() for e in errs]


def _flash_errors(form) -> None:  # type: ignore[no-untyped-def]
    for error in _errors(form):
        flash(error, "error")


# ---------------------------------------------------------------- models


@staff.route("/models/new", methods=["GET", "POST"])
@login_required
def new_model() -> str | Response:
    principal = _staff()
    plans = current_runtime().plans
    form = NewModelForm()
    form.plan.choices = [(p, f"{plans[p].title} ({p})") for p in sorted(plans)]
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            model = editing.create_model_as_staff(
                db.session,
                plans,
                split_ref(form.ref.data.strip()),
                plan=form.plan.data,
                title=form.title.data or "",
                licence=form.licence.data,
                card=(form.card.data or "").replace("\r\n", "\n"),
                actor=principal,
            )
        except DistserverError as exc:
            db.session.rollback()
            errors = [exc.message]
        else:
            flash(f"{model.ref} is created at stage {plans[model.plan].stages[0].name}.", "info")
            return redirect(
                url_for("staff.model_admin", namespace=model.namespace, name=model.name)
            )
    elif form.is_submitted():
        errors = _errors(form)
    return _render(
        "staff/model_new.html",
        errors,
        form=form,
        may_create=bool(principal.roles & editing.CATALOG_ROLES),
    )


def _render(template: str, errors: list[str], **context) -> str | Response:  # type: ignore[no-untyped-def]
    """The page, answered 400 when it shows a refused form's errors."""
    html = render_template(template, errors=errors, **context)
    return (html, 400) if errors else html  # type: ignore[return-value]


@staff.get("/models/<namespace>/<name>")
@login_required
def model_admin(namespace: str, name: str) -> str:
    principal, model = _model(namespace, name)
    plans = current_runtime().plans
    facts = model_facts(db.session, model, plans)
    return render_template(
        "staff/model.html",
        model=model,
        facts=facts,
        plan=plans[model.plan],
        licence=str(card_data(model.card).get("license") or ""),
        revisions=editing.revision_rows(db.session, model),
        may_edit=bool(principal.roles & editing.CATALOG_ROLES),
        may_grant=bool(principal.roles & GRANT_ROLES),
    )


@staff.route("/models/<namespace>/<name>/card", methods=["GET", "POST"])
@login_required
def edit_card(namespace: str, name: str) -> str | Response:
    principal, model = _model(namespace, name)
    form = CardForm(data={"title": model.title, "card": model.card})
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            changed = editing.edit_card(
                db.session,
                model,
                title=form.title.data or "",
                card=form.card.data or "",
                actor=principal,
            )
        except DistserverError as exc:
            db.session.rollback()
            errors = [exc.message]
        else:
            flash("The card is saved." if changed else "Nothing changed.", "info")
            return redirect(url_for("staff.model_admin", namespace=namespace, name=name))
    elif form.is_submitted():
        errors = _errors(form)
    return _render(
        "staff/card.html",
        errors,
        form=form,
        model=model,
        may_edit=bool(principal.roles & editing.CATALOG_ROLES),
    )


# ---------------------------------------------------------------- grants


@staff.get("/models/<namespace>/<name>/grants")
@login_required
def model_grants_page(namespace: str, name: str) -> str:
    principal, model = _model(namespace, name)
    tiers = current_runtime().tiers
    form = GrantForm(formdata=None)
    form.tier.choices = [("", "Choose a tier…")] + [(t, tiers[t].title) for t in sorted(tiers)]
    everything = request.args.get("all") == "1"
    return render_template(
        "staff/grants.html",
        model=model,
        grants=model_grants(db.session, model, everything=everything),
        everything=everything,
        form=form,
        extend=ExtendForm(formdata=None),
        may_grant=bool(principal.roles & GRANT_ROLES),
        tiers=tiers,
    )


@staff.post("/models/<namespace>/<name>/grants")
@login_required
def add_grant(namespace: str, name: str) -> Response:
    principal, model = _model(namespace, name)
    form = GrantForm()
    form.tier.choices = [(t, t) for t in current_runtime().tiers]
    if not form.validate_on_submit():
        _flash_errors(form)
    else:
        try:
            grant = grant_on_model(
                db.session,
                current_runtime().tiers,
                model,
                form.email.data,
                form.tier.data,
                form.days.data,
                principal,
            )
            until = grant.expires_at.date().isoformat() if grant.expires_at else "no expiry"
            flash(f"Granted {grant.tier} on {model.ref} to {form.email.data} ({until}).", "info")
        except DistserverError as exc:
            db.session.rollback()
            flash(exc.message, "error")
    return redirect(url_for("staff.model_grants_page", namespace=namespace, name=name))


def _grant(namespace: str, name: str, grant_id: int) -> tuple[Principal, Grant, Model]:
    """A grant listed on this model's page: one on the model, or a tier-wide one."""
    principal, model = _model(namespace, name)
    grant = db.session.get(Grant, grant_id)
    if grant is None or grant.model_id not in (None, model.id):
        abort(404, f"No grant {grant_id} on {model.ref}.")
    return principal, grant, model


def _back(model: Model) -> Response:
    return redirect(url_for("staff.model_grants_page", namespace=model.namespace, name=model.name))


@staff.post("/models/<namespace>/<name>/grants/<int:grant_id>/extend")
@login_required
def extend(namespace: str, name: str, grant_id: int) -> Response:
    principal, grant, model = _grant(namespace, name, grant_id)
    form = ExtendForm()
    if not form.validate_on_submit():
        _flash_errors(form)
    else:
        try:
            extend_grant(db.session, grant_id, form.days.data, principal)
            until = grant.expires_at.date().isoformat() if grant.expires_at else "no expiry"
            flash(f"Grant {grant_id} now runs until {until}.", "info")
        except DistserverError as exc:
            db.session.rollback()
            flash(exc.message, "error")
    return _back(model)


@staff.route("/models/<namespace>/<name>/grants/<int:grant_id>/revoke", methods=["GET", "POST"])
@login_required
def revoke(namespace: str, name: str, grant_id: int) -> str | Response:
    principal, grant, model = _grant(namespace, name, grant_id)
    form = RevokeForm()
    errors: list[str] = []
    if form.validate_on_submit():
        try:
            revoke_grant(db.session, grant_id, principal)
        except DistserverError as exc:
            db.session.rollback()
            errors = [exc.message]
        else:
            flash(f"Grant {grant_id} is revoked: it stops working on the next request.", "info")
            return _back(model)
    elif form.is_submitted():
        errors = _errors(form)
    holder = db.session.get(User, grant.user_id)
    return _render(
        "staff/revoke.html",
        errors,
        form=form,
        grant=grant,
        holder=holder,
        model=model,
        status=grant_status(grant, utcnow()),
        may_grant=bool(principal.roles & GRANT_ROLES),
    )
