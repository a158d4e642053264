"""The native REST API, /api/v1."""

from __future__ import annotations

from flask import Blueprint

api_v1 = Blueprint("api_v1", __name__, url_prefix="/api/v1")

from flask import request  # noqa: E402
from flask_login import current_user  # noqa: E402

from distserver.accounts.sessions import bearer_token_sent  # noqa: E402
from distserver.api import (  # noqa: E402,F401  (registers routes)
    alerts_views,
    applications_views,
    audit_views,
    catalog_views,
    console_views,
    links_views,
    openapi,
    release_views,
    statistics_views,
)
from distserver.extensions import csrf  # noqa: E402

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@api_v1.before_request
def csrf_for_cookie_sessions() -> None:
    # Token-authenticated calls carry no ambient credential; a signed-in browser
    # session does, so its writes need the CSRF token like any form. Only a real
    # Bearer token exempts: an empty Authorization header does not.
    if (
        request.method in WRITE_METHODS
        and not bearer_token_sent()
        and current_user.is_authenticated
    ):
        csrf.protect()
