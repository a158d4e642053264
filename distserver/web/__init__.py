"""The web pages' frame: the `web` blueprint (home page, base layout, stylesheet)
and the security headers every response carries."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template
from flask_login import current_user
from werkzeug.wrappers import Response

from distserver.extensions import db

web = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)

# No inline script or style anywhere: pages use /static/style.css only, and the
# QR code is a data: image.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


@web.get("/")
def home() -> str:
    from distserver.access.policy import may_see
    from distserver.accounts.sessions import current_principal
    from distserver.catalog.services import list_models
    from distserver.releases.services import model_facts
    from distserver.runtime import current_runtime

    principal = current_principal()
    plans = current_runtime().plans
    rows = []
    for model in list_models(db.session):
        facts = model_facts(db.session, model, plans)
        if may_see(principal, facts):
            rows.append({"ref": model.ref, "title": model.title, "facts": facts})
    return render_template("home.html", models=rows)


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if current_app.config.get("ENV") != "development":
        headers.setdefault("Strict-Transport-Security", HSTS)
    user = g.get("_login_user")  # only if this request loaded one: no query here
    if response.mimetype == "text/html" and user is not None and user.is_authenticated:
        # Signed-in pages (a new token, recovery codes) must not linger in caches.
        headers.setdefault("Cache-Control", "no-store")
    return response


def _layout_context() -> dict[str, Any]:
    from distserver.accounts.forms import ConfirmForm
    from distserver.accounts.sso import providers

    user = current_user if current_user.is_authenticated else None
    roles = user.role_names if user is not None else frozenset()
    return {
        "me": user,
        "my_roles": roles,
        "sso_providers": list(providers().values()),
        "signout_form": ConfirmForm(formdata=None) if user is not None else None,
        "needs_second_factor": bool(roles) and user is not None and not user.totp_enabled,
    }


def init_web(app: Flask) -> None:
    app.after_request(_security_headers)
    app.context_processor(_layout_context)
    app.register_blueprint(web)
