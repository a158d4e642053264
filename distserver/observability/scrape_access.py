"""Who may scrape /metrics: METRICS_TOKEN (a bearer token) and METRICS_ALLOW (addresses
or CIDR networks). Each one that is set must be satisfied. With neither set, development
and testing leave /metrics open and production admits loopback only."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from typing import Any

from distserver.errors import ConfigError

LOOPBACK = ("127.0.0.0/8", "::1/128")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_networks(settings: Mapping[str, Any]) -> tuple[Network, ...] | None:
    """The METRICS_ALLOW networks; None when anyone may scrape (no restriction)."""
    raw = settings.get("METRICS_ALLOW") or []
    if isinstance(raw, str):
        raw = [part for part in raw.replace(",", " ").split() if part]
    if not raw and not settings.get("METRICS_TOKEN"):
        if settings.get("ENV") != "production":
            return None
        raw = list(LOOPBACK)
    try:
        return tuple(ipaddress.ip_network(str(item), strict=False) for item in raw)
    except ValueError as exc:
        raise ConfigError(f"DISTSERVER_METRICS_ALLOW: {exc} (list addresses or CIDRs)") from None


def address_allowed(address: str | None, networks: tuple[Network, ...] | None) -> bool:
    if networks is None:
        return True
    if not networks:  # METRICS_TOKEN alone: no address condition
        return True
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in net for net in networks)


def token_allowed(header: str | None, expected: str | None) -> bool:
    if not expected:
        return True
    kind, _, raw = (header or "").partition(" ")
    return kind.lower() == "bearer" and hmac.compare_digest(raw.strip().encode(), expected.encode())
