"""/admin/users: admins assign staff roles and suspend users. The services check
the role and the second factor; this page only shows and forwards."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from distserver.accounts import admin
from distserver.accounts.forms import ConfirmForm, RoleForm
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


@accounts.get("/admin/users")
@login_required
def admin_users() -> str:
    _require_admin()
    return render_template(
        "accounts/admin_users.html",
        users=admin.list_users(db.session),
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


@accounts.post("/admin/users/<int:user_id>/suspend")
@login_required
def admin_suspend(user_id: int) -> Response:
    _require_admin()
    ConfirmForm()
    user = _target(user_id)
    try:
        if user.suspended_at is None:
            admin.suspend_user(db.session, user, current_principal())
            flash(f"{user.email} is suspended; their sessions and tokens are refused.", "info")
        else:
            admin.unsuspend_user(db.session, user, current_principal())
            flash(f"{user.email} is no longer suspended.", "info")
    except DistserverError as exc:
        flash(exc.message, "error")
    return redirect(url_for("accounts.admin_users"))
