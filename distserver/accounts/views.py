"""Sign-in pages: register, verify e-mail, sign in (+ TOTP), sign out, forgot and
reset password. Thin: parse the form, call a service, render or redirect."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from distserver.accounts import auth, second_factor
from distserver.accounts.forms import (
    CodeForm,
    ConfirmForm,
    ForgotForm,
    RegisterForm,
    ResetForm,
    SignInForm,
)
from distserver.accounts.sessions import client_address
from distserver.accounts.signin import (
    begin_pending,
    pending_user,
    safe_next,
    sign_out,
    start_session,
)
from distserver.errors import Conflict, DistserverError, Unauthorized
from distserver.extensions import db, limiter
from distserver.mail import send_mail
from distserver.urls import external_url

accounts = Blueprint("accounts", __name__, template_folder="templates")

Page = str | Response | tuple[str, int]


def login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _reset_limit() -> str:
    return str(current_app.config["RESET_RATE_LIMIT"])


def _register_limit() -> str:
    return str(current_app.config["REGISTER_RATE_LIMIT"])


def by_address() -> str:
    return f"addr:{client_address()}"


def _by_account() -> str:
    return "acct:" + (request.form.get("email") or "").strip().lower()[:255]


def _by_pending() -> str:
    pending = pending_user()
    return f"pending:{pending[0].id}" if pending else f"pending-addr:{client_address()}"


def sign_in_failed(response: Response) -> bool:
    return response.status_code == 401


def _send_verification(user_email: str, token: str) -> None:
    link = external_url("accounts.verify", token=token)
    send_mail(
        user_email,
        "Confirm your e-mail address",
        f"Follow this link to confirm your address (valid for 2 days):\n\n{link}\n",
    )


@accounts.route("/register", methods=["GET", "POST"])
@limiter.limit(_register_limit, key_func=by_address, methods=["POST"])
@limiter.limit(_register_limit, key_func=_by_account, methods=["POST"])
def register() -> Page:
    """The same answer, the same work (one password hash, one mail) and so the same
    time whether or not the address already has an account."""
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = auth.register(db.session, form.email.data, form.password.data, client_address())
            _send_verification(user.email, auth.verification_token(user))
        except Conflict:
            # Say the same thing either way; tell the address's owner instead.
            existing = auth.find_by_email(db.session, form.email.data)
            if existing is not None:
                send_mail(
                    existing.email,
                    "You already have an account",
                    "Someone tried to register with this address. Sign in, or reset your "
                    f"password at {external_url('accounts.forgot')}\n",
                )
        except DistserverError as exc:
            flash(exc.message, "error")
            return render_template("accounts/register.html", form=form), 400
        flash("Check your e-mail: we sent a link to confirm your address.", "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/register.html", form=form), 400 if form.errors else 200


@accounts.get("/verify/<token>")
def verify(token: str) -> Response:
    try:
        auth.verify_email(db.session, token)
    except DistserverError as exc:
        flash(exc.message, "error")
        return redirect(url_for("accounts.login"))
    flash("Your e-mail address is confirmed. You can sign in now.", "info")
    return redirect(url_for("accounts.login"))


@accounts.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, key_func=by_address, methods=["POST"], deduct_when=sign_in_failed)
@limiter.limit(login_limit, key_func=_by_account, methods=["POST"], deduct_when=sign_in_failed)
def login() -> Page:
    form = SignInForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), default="")
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form), 400 if form.errors else 200
    attempt = auth.SignInAttempt(
        form.email.data, client_address(), request.headers.get("User-Agent")
    )
    try:
        user = auth.authenticate_password(db.session, attempt, form.password.data)
    except Unauthorized as exc:
        if exc.code == "email_unverified":
            unverified = auth.find_by_email(db.session, form.email.data)
            if unverified is not None:
                _send_verification(unverified.email, auth.verification_token(unverified))
        flash(exc.message, "error")
        return render_template("accounts/login.html", form=form), 401
    target = safe_next(form.next.data)
    if user.totp_enabled:
        begin_pending(user, "password", bool(form.remember.data), target)
        return redirect(url_for("accounts.login_code"))
    start_session(user, method="password", remember=bool(form.remember.data), second_factor=False)
    return redirect(target)


@accounts.route("/login/code", methods=["GET", "POST"])
@limiter.limit(login_limit, key_func=by_address, methods=["POST"], deduct_when=sign_in_failed)
@limiter.limit(login_limit, key_func=_by_pending, methods=["POST"], deduct_when=sign_in_failed)
def login_code() -> Page:
    found = pending_user()
    if found is None:
        flash("Sign in first.", "error")
        return redirect(url_for("accounts.login"))
    user, pending = found
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("accounts/code.html", form=form), 400 if form.errors else 200
    if not second_factor.check_code(db.session, user, form.code.data):
        auth.record_failed_second_factor(db.session, user, client_address())
        flash("That code is not right.", "error")
        return render_template("accounts/code.html", form=form), 401
    start_session(
        user, method=pending["method"], remember=bool(pending["remember"]), second_factor=True
    )
    return redirect(safe_next(pending.get("next")))


@accounts.post("/logout")
@login_required
def logout() -> Response:
    ConfirmForm()  # CSRF is checked by CSRFProtect before this runs
    sign_out(current_user._get_current_object())
    flash("You are signed out.", "info")
    return redirect(url_for("web.home"))


@accounts.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, key_func=by_address, methods=["POST"])
@limiter.limit(_reset_limit, key_func=_by_account, methods=["POST"])
def forgot() -> Page:
    form = ForgotForm()
    if form.validate_on_submit():
        user = auth.find_by_email(db.session, form.email.data)
        if user is not None and user.is_active:
            link = external_url("accounts.reset", token=auth.reset_token(user))
            send_mail(
                user.email,
                "Reset your password",
                f"Follow this link within an hour to choose a new password:\n\n{link}\n\n"
                "If you did not ask for this, ignore this message.\n",
            )
        flash("If that address has an account, a reset link is on its way.", "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form), 400 if form.errors else 200


@accounts.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_reset_limit, key_func=by_address, methods=["POST"])
def reset(token: str) -> Page:
    try:
        auth.user_for_reset(db.session, token)
    except DistserverError as exc:
        flash(exc.message, "error")
        return redirect(url_for("accounts.forgot"))
    form = ResetForm()
    if form.validate_on_submit():
        try:
            auth.reset_password(db.session, token, form.password.data, client_address())
        except DistserverError as exc:
            flash(exc.message, "error")
            return render_template("accounts/reset.html", form=form), 400
        flash(
            "Your password is changed; every other session was signed out and every API "
            "token revoked.",
            "info",
        )
        return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form), 400 if form.errors else 200
