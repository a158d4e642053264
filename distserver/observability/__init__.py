"""Observability: client addresses behind proxies, Prometheus metrics, structured
request logs with a request id. `init_observability(app)` wires all of it into an app."""

from __future__ import annotations

from flask import Flask

from distserver.errors import ConfigError
from distserver.observability.logs import configure_logging
from distserver.observability.metrics import init_metrics
from distserver.observability.proxies import apply_proxy_fix
from distserver.observability.requests import init_request_hooks
from distserver.observability.scrape_access import allowed_networks

LOG_FORMATS = ("json", "text")
SCRAPE_NETWORKS_KEY = "distserver.metrics_allow"


def init_observability(app: Flask) -> None:
    log_format = str(app.config.get("LOG_FORMAT") or "json")
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"DISTSERVER_LOG_FORMAT={log_format!r}: use 'json' or 'text'")
    configure_logging(log_format)
    apply_proxy_fix(app)
    app.extensions[SCRAPE_NETWORKS_KEY] = allowed_networks(app.config)
    init_metrics(app)
    init_request_hooks(app)
