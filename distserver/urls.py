"""Absolute URLs of this server, always built from the configured EXTERNAL_URL and
never from the request's `Host` or `X-Forwarded-Host`: a link in a mail, a webhook,
a redirect or a snippet that named the host an attacker sent would hand them
whatever token the link carries.

Every domain that needs an absolute URL uses these two functions; they need an
application context but no request (mail sent by a CLI command or a worker builds
the same links as a page does)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app


def external_base() -> str:
    """The configured root of this server, without a trailing slash
    (e.g. "https://models.example.org")."""
    return str(current_app.config["EXTERNAL_URL"]).rstrip("/")


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint` (as for url_for) under EXTERNAL_URL."""
    base = urlsplit(external_base())
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
