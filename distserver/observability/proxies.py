"""Client addresses behind reverse proxies.

The client address feeds the audit log, the anonymous quota and rate limit, and the
sign-in throttle, so it must not be something a client can choose. With
TRUSTED_PROXY_COUNT = N > 0, werkzeug's ProxyFix takes the address the N-th proxy from
the right appended to X-Forwarded-For (and the scheme from X-Forwarded-Proto): hops
further left were written by the client and are ignored. With 0 (the default) the
headers are ignored entirely and the address is the TCP peer's. Everything downstream
reads `request.remote_addr`, which is the proxied address once this is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from distserver.errors import ConfigError


def trusted_proxy_count(settings: Mapping[str, Any]) -> int:
    raw = settings.get("TRUSTED_PROXY_COUNT", 0)
    try:
        count = int(raw)
    except (TypeError, ValueError):
        count = -1
    if isinstance(raw, bool) or count < 0:
        raise ConfigError(
            f"DISTSERVER_TRUSTED_PROXY_COUNT={raw!r}: use the number of reverse proxies in "
            "front of the app (0 when clients connect directly)"
        )
    return count


def apply_proxy_fix(app: Flask) -> None:
    count = trusted_proxy_count(app.config)
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
