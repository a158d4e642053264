"""Outbound HTTP to addresses someone typed in (webhook URLs), without letting them
aim the server at its own network (SSRF).

The contract of `post`:

- the host is resolved once; every address it resolves to must be allowed, and the
  request goes to the first of them (the connection is pinned to the checked
  address: no second lookup can swap in another one, as DNS rebinding would);
- an address is allowed when it is globally routable unicast, or when it lies in a
  network of the WEBHOOK_ALLOWED_NETWORKS setting. Private, loopback, link-local
  (169.254.0.0/16, fe80::/10), shared, reserved, multicast and unspecified ranges
  are refused, IPv4 and IPv6 alike, including IPv4 addresses carried inside IPv6
  (IPv4-mapped, IPv4-compatible, 6to4, NAT64 and Teredo forms);
- redirects are never followed: a 3xx is just the receiver's answer;
- what the caller learns is one of three things: the receiver's HTTP status, a
  refused target, or "no response". How a connection failed (refused, reset,
  timed out, TLS) is not told apart, so the outcome cannot map ports.

urllib3 (already installed with requests and boto3) does the HTTP; connecting to
an address while sending the name in Host and TLS SNI is what it offers and the
standard library's urllib does not.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from flask import current_app, has_app_context

from distserver.errors import ConfigError

log = logging.getLogger("distserver.outbound")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED_TARGET = "refused target: not an allowed address (see WEBHOOK_ALLOWED_NETWORKS)"
NO_RESPONSE = "no response from the receiver"
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


@dataclass(frozen=True)
class Outcome:
    """The receiver's HTTP status (None when there was none) and, unless it answered
    2xx, a short sentence that says no more than the contract above allows."""

    status: int | None
    error: str | None


class RefusedTarget(Exception):
    """The URL names a host whose address is not allowed."""


def parse_networks(value: Any) -> tuple[Network, ...]:
    """WEBHOOK_ALLOWED_NETWORKS as networks: a list of CIDRs, or one string of them
    separated by commas or spaces. ConfigError names a malformed entry."""
    if value is None or value == "":
        return ()
    items: Iterable[Any] = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError("WEBHOOK_ALLOWED_NETWORKS is a list of CIDR networks")
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"WEBHOOK_ALLOWED_NETWORKS: {item!r} is not a network such as 10.0.0.0/8"
            ) from None
    return tuple(networks)


def configured_networks() -> tuple[Network, ...]:
    """The allow-list of the current app (none outside an app)."""
    if not has_app_context():
        return ()
    return parse_networks(current_app.config.get("WEBHOOK_ALLOWED_NETWORKS"))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast, and so is any IPv4 address carried inside it."""
    if not ip.is_global or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False
    inner = _embedded_ipv4(ip)
    return inner is None or is_public(inner)


def allowed(ip: IPAddress, networks: Iterable[Network]) -> bool:
    inner = _embedded_ipv4(ip)
    candidates = [ip] if inner is None else [ip, inner]
    listed = any(c in net for c in candidates for net in networks if c.version == net.version)
    return listed or is_public(ip)


def resolve_checked(host: str, port: int, networks: Iterable[Network]) -> str:
    """The address to connect to: the first `host` resolves to, when every one of
    them is allowed. RefusedTarget otherwise (or when it does not resolve)."""
    networks = tuple(networks)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise RefusedTarget(host) from None
    addresses = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        addresses.append(ipaddress.ip_address(text))
    if not addresses or not all(allowed(ip, networks) for ip in addresses):
        raise RefusedTarget(host)
    return str(addresses[0])


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    networks: Iterable[Network] = (),
) -> Outcome:
    """POST `body` to `url` under the contract of this module; never raises for
    anything the target does."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        return Outcome(None, REFUSED_TARGET)
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return Outcome(None, REFUSED_TARGET)
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        address = resolve_checked(host, port, networks)
    except RefusedTarget:
        log.warning("webhook to %s refused: its address is not allowed", host)
        return Outcome(None, REFUSED_TARGET)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    options: dict[str, Any] = {}
    if parts.scheme == "https":
        options = {"server_hostname": host, "assert_hostname": host, "cert_reqs": "CERT_REQUIRED"}
    pool_class = (
        urllib3.HTTPSConnectionPool if parts.scheme == "https" else urllib3.HTTPConnectionPool
    )
    pool = pool_class(
        address, port, timeout=urllib3.Timeout(total=timeout), retries=False, maxsize=1, **options
    )
    try:
        response = pool.urlopen(
            "POST",
            target,
            body=body,
            headers={**headers, "Host": parts.netloc},
            redirect=False,
            retries=False,
            preload_content=False,
        )
        status = response.status
        response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        log.warning("webhook to %s got no response (%s)", host, type(exc).__name__)
        return Outcome(None, NO_RESPONSE)
    finally:
        pool.close()
    return Outcome(status, None if 200 <= status < 300 else f"HTTP {status}")
