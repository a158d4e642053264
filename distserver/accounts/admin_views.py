"""/admin/users: admins search users, assign staff roles and suspend users (behind a
confirmation page, which needs no JavaScript). The services check the role and the
second factor; this page only shows and forwards."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from distserver.accounts import admin
from distserver.accounts.forms import ConfirmForm, RoleForm, SuspendForm
from distserver.accounts.models import User
from distserver.accounts.sessions import current_principal
from distserver.accounts.views import accounts
from distserver.errors import DistserverError
from distserver.extensions import db


def _target(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _require_admin() -> None:
    principal = current_principal()
    if "admin" not in principal.roles or principal.suspended:
        abort(403)


SHOWN = 100


@accounts.get("/admin/users")
@login_required
def admin_users() -> str:
    _require_admin()
    query = request.args.get("q", "")[:255].strip()
    return render_template(
        "accounts/admin_users.html",
        users=admin.search_users(db.session, query, limit=SHOWN + 1),
        shown=SHOWN,
        query=query,
        role_form=RoleForm(formdata=None),
        confirm=ConfirmForm(formdata=None),
        proved=current_principal().second_factor,
    )


@accounts.post("/admin/users/<int:user_id>/role")
@login_required
def admin_role(user_id: int) -> Response:
    _require_admin()
    form = RoleForm()
    if form.validate_on_submit():
        user = _target(user_id)
        try:
            admin.change_role(
                db.session,
                user,
                form.role.data,
                add=form.action.data == "add",
                actor=current_principal(),
            )
            flash(f"{user.email}: role {form.role.data} {form.action.data}ed.", "info")
        except DistserverError as exc:
            flash(exc.message, "error")
    else:
        flash("Choose an action and a role.", "error")
    return redirect(url_for("accounts.admin_users"))


@accounts.get("/admin/users/<int:user_id>/suspend")
@login_required
def admin_suspend_confirm(user_id: int) -> str | Response:
    _require_admin()
    user = _target(user_id)
    if user.suspended_at is not None:
        flash(f"{user.email} is already suspended.", "info")
        return redirect(url_for("accounts.admin_users", q=user.email))
    return render_template(
        "staff/confirm.html",
        title=f"Suspend {user.email}?",
        explanation=(
            f"Every session and API token of {user.email} stops working on its next "
            "request, and they cannot sign in until the suspension is lifted."
        ),
        action=url_for("accounts.admin_suspend", user_id=user.id),
        button=f"Suspend {user.email}",
        back=url_for("accounts.admin_users", q=user.email),
        form=SuspendForm(formdata=None),
        reason=True,
    )


@accounts.post("/admin/users/<int:user_id>/suspend")
@login_required
def admin_suspend(user_id: int) -> Response:
    _require_admin()
    form = SuspendForm()
    user = _target(user_id)
    try:
        if user.suspended_at is None:
            admin.suspend_user(db.session, user, current_principal(), form.reason.data or "")
            flash(f"{user.email} is suspended; their sessions and tokens are refused.", "info")
        else:
            admin.unsuspend_user(db.session, user, current_principal())
            flash(f"{user.email} is no longer suspended.", "info")
    except DistserverError as exc:
        flash(exc.message, "error")
    return redirect(url_for("accounts.admin_users"))
