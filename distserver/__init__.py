"""distserver: a staged-access model distribution server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from distserver.app_runtime import Runtime
from distserver.config import load_settings
from distserver.extensions import csrf, db, limiter, login_manager
from distserver.inputs import install as install_strict_inputs


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build an app from settings (see distserver.config); several may live in one process."""
    import distserver.models  # noqa: F401  (every table, for Alembic)
    from distserver.access.tiers import load_tiers
    from distserver.alerts.rules import load_rules
    from distserver.fastdoors import install as install_fast_doors
    from distserver.jobs import init_jobs
    from distserver.observability import init_observability
    from distserver.releases.plans import load_plans
    from distserver.startup_checks import check_keys, start_background_jobs
    from distserver.storage import build_storage

    settings = load_settings(overrides)
    app = Flask(__name__, instance_path=settings["INSTANCE_DIR"], instance_relative_config=False)
    app.config.update(settings)
    install_strict_inputs(app)  # bounded JSON, ASCII-only <int:...> (before any route)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    tiers_dir = Path(settings["TIERS_DIR"])
    tiers = load_tiers(tiers_dir)
    plans = load_plans(tiers_dir, tiers)
    storage = build_storage(settings)
    check_keys(settings, tiers)
    app.extensions["distserver"] = Runtime(settings, tiers, plans, storage)
    app.extensions["distserver.alert_rules"] = load_rules(tiers_dir)

    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    # The one Limiter of the process reads RATELIMIT_KEY_PREFIX only while it has none:
    # cleared, so that each app built here counts under its own prefix.
    limiter._key_prefix = ""
    limiter.init_app(app)
    install_fast_doors(app)  # before ProxyFix (in init_observability) wraps it
    init_observability(app)  # proxies, request ids, metrics, JSON logs: before the routes

    _register(app)
    init_jobs(app)
    start_background_jobs(app)
    return app


def _register(app: Flask) -> None:
    from distserver import operator_views
    from distserver.accounts import init_accounts
    from distserver.accounts.sessions import init_sessions
    from distserver.api import api_v1
    from distserver.api.errors import register_error_handlers
    from distserver.downloads.views import downloads
    from distserver.hf import hf
    from distserver.web import (
        console_views,  # noqa: F401  (routes on the staff blueprint)
        init_web,
    )
    from distserver.web.alerts_views import init_alert_pages
    from distserver.web.staff_views import staff

    init_sessions(app)
    init_accounts(app)  # web sign-in pages, SSO providers, Flask-Login's login view
    init_web(app)
    app.register_blueprint(staff)  # /staff: release consoles and audit pages
    init_alert_pages(app)  # /staff/alerts (routes on the staff blueprint) and its chart
    csrf.exempt(api_v1)
    app.register_blueprint(api_v1)
    app.register_blueprint(downloads)
    app.register_blueprint(operator_views.bp)
    csrf.exempt(hf)  # token-authenticated client door; no cookie-authenticated writes
    app.register_blueprint(hf)
    register_error_handlers(app)
