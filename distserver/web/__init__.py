"""The web pages: the `web` blueprint (catalog, model pages, applications, my
access, the review queue and the role dashboards on the home page), the base
layout and the security headers every response carries.

Views live in one module per resource and stay thin: parse the request, call a
service (access decisions always come from the policy, see downloads/standing.py),
render. Every POST is a Flask-WTF form (CSRF); every page works without
JavaScript (static/copy.js only adds copy buttons)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g
from flask_login import current_user
from werkzeug.wrappers import Response

web = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets"
)

# No inline script or style anywhere: pages use the blueprint's style.css and
# copy.js only, and the QR code is a data: image.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


def security_headers(app: Flask) -> list[tuple[str, str]]:
    """The headers every response carries (a response may set its own instead);
    distserver.fastdoors sends the same on the answers it makes outside Flask."""
    found = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
    ]
    if app.config.get("ENV") != "development":
        found.append(("Strict-Transport-Security", HSTS))
    return found


def _security_headers(response: Response) -> Response:
    headers = response.headers
    for key, value in security_headers(current_app):
        headers.setdefault(key, value)
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
    from distserver.web import (  # noqa: F401  (routes)
        access_views,
        catalog_views,
        dashboard_views,
        model_views,
        org_views,
        review_views,
        webhook_views,
    )
    from distserver.web.render import init_render

    app.after_request(_security_headers)
    app.context_processor(_layout_context)
    init_render(app)
    app.register_blueprint(web)
