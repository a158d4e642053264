"""Accounts: users, roles, passwords, sessions, API tokens, SSO and the second factor."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, g

from distserver.errors import ConfigError

MAX_REMEMBER_DAYS = 30


def init_accounts(app: Flask) -> None:
    """Register the sign-in pages and SSO providers; check the account settings."""
    from distserver.accounts import account_views, admin_views, sso_views  # noqa: F401  (routes)
    from distserver.accounts.sso import init_sso
    from distserver.accounts.views import accounts
    from distserver.extensions import login_manager

    seconds = int(app.config.get("REMEMBER_COOKIE_DURATION") or 0)
    if not 0 < seconds <= MAX_REMEMBER_DAYS * 86400:
        raise ConfigError(
            f"REMEMBER_COOKIE_DURATION={seconds}: give seconds, at most {MAX_REMEMBER_DAYS} days."
        )
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(seconds=seconds)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"
    init_sso(app)
    app.register_blueprint(accounts)

    @app.before_request
    def _no_stale_request_state() -> None:
        # `g` outlives a request when the caller pushed an app context (tests,
        # scripts): the user Flask-Login cached there, or a CSRF token, may belong
        # to an earlier request's session.
        g.pop("_login_user", None)
        g.pop("csrf_token", None)
