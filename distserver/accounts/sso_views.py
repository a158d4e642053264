"""SSO pages: start at a provider, come back to the callback, and (when the e-mail
belongs to an existing account) confirm the link with that account's password."""

from __future__ import annotations

from dataclasses import asdict

from flask import flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from distserver.accounts import sso
from distserver.accounts.forms import LinkForm
from distserver.accounts.models import User
from distserver.accounts.sessions import client_address
from distserver.accounts.signin import begin_pending, fresh_session, safe_next, start_session
from distserver.accounts.views import accounts, by_address, login_limit, sign_in_failed
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.errors import DistserverError
from distserver.extensions import db, limiter
from distserver.identity import Principal
from distserver.urls import external_url

LINK_KEY = "sso_link"
NEXT_KEY = "sso_next"


def _refuse(message: str, reason: str, provider: str) -> Response:
    actor = Principal(address=client_address(), user_agent=request.headers.get("User-Agent"))
    record(
        db.session, EventTag.LOGIN_FAILED, actor, reason=reason, data={"method": "sso:" + provider}
    )
    db.session.commit()
    flash(message, "error")
    return redirect(url_for("accounts.login"))


def _finish(user: User, provider: str, target: str) -> Response:
    method = f"sso:{provider}"
    if user.totp_enabled:
        begin_pending(user, method, False, target)
        return redirect(url_for("accounts.login_code"))
    start_session(user, method=method, remember=False, second_factor=False)
    return redirect(target)


@accounts.get("/sso/<name>/login")
def sso_login(name: str) -> Response:
    oauth_client, _provider = sso.client(name)
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    redirect_uri = external_url("accounts.sso_callback", name=name)
    return oauth_client.authorize_redirect(redirect_uri)


@accounts.get("/sso/<name>/callback")
def sso_callback(name: str) -> Response:
    oauth_client, provider = sso.client(name)  # a known provider: Authlib is loaded
    from authlib.integrations.base_client.errors import OAuthError

    target = safe_next(session.pop(NEXT_KEY, None))
    try:
        token = oauth_client.authorize_access_token()
        claims = sso.claims_from(token, provider, oauth_client)
        outcome = sso.resolve_identity(db.session, claims, client_address())
    except OAuthError as exc:
        return _refuse(f"Sign-in with {provider.label} failed ({exc.error}).", "sso_failed", name)
    except DistserverError as exc:
        return _refuse(exc.message, exc.code, name)
    if outcome.link_to is not None:
        fresh_session()
        session[LINK_KEY] = {"claims": asdict(claims), "user": outcome.link_to.id, "name": name}
        session[NEXT_KEY] = target
        return redirect(url_for("accounts.sso_link"))
    assert outcome.user is not None
    return _finish(outcome.user, name, target)


@accounts.route("/sso/link", methods=["GET", "POST"])
@limiter.limit(login_limit, key_func=by_address, methods=["POST"], deduct_when=sign_in_failed)
def sso_link() -> str | Response | tuple[str, int]:
    pending = session.get(LINK_KEY)
    if not isinstance(pending, dict):
        return redirect(url_for("accounts.login"))
    user = db.session.get(User, int(pending["user"]))
    if user is None:
        session.pop(LINK_KEY, None)
        return redirect(url_for("accounts.login"))
    form = LinkForm()
    claims = sso.SsoClaims(**pending["claims"])
    if form.validate_on_submit():
        try:
            sso.confirm_link(db.session, user, claims, form.password.data)
        except DistserverError as exc:
            flash(exc.message, "error")
            return render_template("accounts/sso_link.html", form=form, email=user.email), 401
        return _finish(user, pending["name"], safe_next(session.get(NEXT_KEY)))
    return render_template("accounts/sso_link.html", form=form, email=user.email)
