"""The signed-in person's own pages: account overview with API tokens (create,
shown once; list; revoke), password change, and TOTP enrolment."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from distserver.accounts import auth, second_factor
from distserver.accounts.forms import ChangePasswordForm, ConfirmForm, EnrolCodeForm, TokenForm
from distserver.accounts.models import User
from distserver.accounts.services import create_token, list_tokens, revoke_token
from distserver.accounts.sessions import SECOND_FACTOR_KEY, current_principal
from distserver.accounts.signin import fresh_session
from distserver.accounts.views import accounts
from distserver.db import utcnow
from distserver.errors import DistserverError
from distserver.extensions import db

Page = str | Response | tuple[str, int]


def _me() -> User:
    return current_user._get_current_object()


def _account_page(form: TokenForm, new_token: str | None = None, status: int = 200) -> Page:
    user = _me()
    return render_template(
        "accounts/account.html",
        user=user,
        tokens=list_tokens(db.session, user),
        form=form,
        confirm=ConfirmForm(),
        new_token=new_token,
        now=utcnow(),
        recovery_left=second_factor.recovery_codes_left(db.session, user),
        proved=session.get(SECOND_FACTOR_KEY) is True,
    ), status


@accounts.get("/account")
@login_required
def account() -> Page:
    return _account_page(TokenForm(formdata=None))


@accounts.post("/account/tokens")
@login_required
def token_create() -> Page:
    form = TokenForm()
    if not form.validate_on_submit():
        return _account_page(form, status=400)
    try:
        new = create_token(
            db.session,
            _me(),
            name=form.name.data,
            expires_days=form.expires_days.data,
            scopes=("read", "manage") if form.scope.data == "manage" else ("read",),
            actor=current_principal(),
            second_factor=session.get(SECOND_FACTOR_KEY) is True,
        )
    except DistserverError as exc:
        flash(exc.message, "error")
        return _account_page(form, status=exc.status)
    # Rendered, not redirected: the raw token never lands in a cookie or a URL.
    return _account_page(TokenForm(formdata=None), new_token=new.raw, status=201)


@accounts.post("/account/tokens/<int:token_id>/revoke")
@login_required
def token_revoke(token_id: int) -> Response:
    ConfirmForm()
    try:
        revoke_token(db.session, _me(), token_id, current_principal())
        flash("The token is revoked.", "info")
    except DistserverError as exc:
        flash(exc.message, "error")
    return redirect(url_for("accounts.account"))


@accounts.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Page:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            auth.change_password(
                db.session, _me(), form.current.data, form.password.data, current_principal()
            )
        except DistserverError as exc:
            flash(exc.message, "error")
            return render_template("accounts/password.html", form=form), 400
        # The session version moved on, so this session ended with all others.
        logout_user()
        fresh_session()
        flash(
            "Your password is changed, every session signed out and every API token "
            "revoked: sign in again, and create new tokens where you need them.",
            "info",
        )
        return redirect(url_for("accounts.login"))
    return render_template("accounts/password.html", form=form), 400 if form.errors else 200


@accounts.route("/account/2fa", methods=["GET", "POST"])
@login_required
def enrol() -> Page:
    """GET: status (or the pending QR code); POST: start a fresh enrolment."""
    user = _me()
    if user.totp_enabled:
        return render_template("accounts/enrol.html", enrolled=True, confirm=ConfirmForm())
    if ConfirmForm().validate_on_submit():
        second_factor.begin_enrolment(db.session, user)
        return redirect(url_for("accounts.enrol"))
    pending = None
    if user.totp_secret is not None:
        pending = second_factor.pending_enrolment(user)
    return render_template(
        "accounts/enrol.html",
        enrolled=False,
        pending=pending,
        confirm=ConfirmForm(formdata=None),
        form=EnrolCodeForm(formdata=None),
    )


@accounts.post("/account/2fa/confirm")
@login_required
def enrol_confirm() -> Page:
    user = _me()
    form = EnrolCodeForm()
    if form.validate_on_submit():
        try:
            codes = second_factor.confirm_enrolment(db.session, user, form.code.data)
        except DistserverError as exc:
            flash(exc.message, "error")
            return redirect(url_for("accounts.enrol"))
        session[SECOND_FACTOR_KEY] = True  # proved just now
        return render_template("accounts/recovery.html", codes=codes), 201
    flash("Enter the 6-digit code from your app.", "error")
    return redirect(url_for("accounts.enrol"))
