"""Webhooks cannot be aimed at the server's own network: the address is resolved and
checked when the delivery connects, the connection is pinned to the checked address,
redirects are not followed, and a failed delivery says nothing that maps ports."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from distserver import outbound
from distserver.access import webhooks
from distserver.access.models import WebhookDelivery
from distserver.errors import ConfigError
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.jobs import drain

LOOPBACK = ["127.0.0.0/8"]


class Listener:
    """An HTTP server on a loopback address that records every request, any method,
    and answers `status` (with `location`, for redirects)."""

    def __init__(
        self, host: str = "127.0.0.1", status: int = 200, location: str = "", port: int = 0
    ):
        self.received: list[tuple[str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                listener.received.append((self.command, self.path))
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer((host, port), Handler)
        self.port = self.server.server_port
        self.url = f"http://{host}:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_app(make_app: Any) -> Iterator[Flask]:
    app = make_app("sqlite")
    with app.app_context():
        yield app


def _deliver_once(url: str) -> WebhookDelivery:
    """Subscribe `url` to everything, emit one event, and return its delivery after
    its first attempt, made by the delivery job enqueued when the transaction commits."""
    webhooks.create_webhook(db.session, url, ["*"], SYSTEM)
    webhooks.emit(db.session, "release:stage:promoted", {"model": "acme/llm", "stage": "x"})
    db.session.commit()
    drain()
    db.session.expire_all()
    return db.session.scalars(db.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()[-1]


def test_webhook_ssrf_loopback_target_is_refused_unless_allow_listed(hook_app: Flask) -> None:
    listener = Listener()
    try:
        delivery = _deliver_once(listener.url)
        assert listener.received == []
        assert delivery.last_status is None
        assert delivery.last_error is not None
        assert delivery.last_error.startswith("refused target")
        # The same hook once an operator names loopback in the allow-list.
        hook_app.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
        assert webhooks.deliver(db.session, [delivery.id], timeout=3) == 1
        assert listener.received == [("POST", "/hook")]
    finally:
        listener.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://localhost:9/hook",  # a name that resolves to loopback
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",  # IPv4-mapped loopback
        "http://10.0.0.1/hook",
        "http://0.0.0.0:9/hook",
        "http://224.0.0.1/hook",
    ],
)
def test_webhook_ssrf_internal_addresses_are_refused_before_connecting(
    hook_app: Flask, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_connection(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a connection was attempted for {url}")

    monkeypatch.setattr(socket.socket, "connect", no_connection)
    delivery = _deliver_once(url)
    assert delivery.last_status is None
    assert delivery.last_error == outbound.REFUSED_TARGET


def test_webhook_ssrf_redirects_are_not_followed(hook_app: Flask) -> None:
    hook_app.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
    inner = Listener()
    outer = Listener(status=302, location=inner.url)
    try:
        delivery = _deliver_once(outer.url)
        assert outer.received == [("POST", "/hook")]
        assert inner.received == []
        assert (delivery.status, delivery.last_status) == ("pending", 302)
        assert delivery.last_error == "HTTP 302"
    finally:
        inner.close()
        outer.close()


def test_webhook_ssrf_failures_do_not_tell_closed_from_open_ports(hook_app: Flask) -> None:
    """A closed port and an open port that is not HTTP read the same to an admin."""
    hook_app.config["WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    not_http = socket.socket()
    not_http.bind(("127.0.0.1", 0))
    not_http.listen(1)

    def hang_up() -> None:
        conn, _ = not_http.accept()
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        errors = {
            _deliver_once(f"http://127.0.0.1:{port}/hook").last_error
            for port in (closed_port, not_http.getsockname()[1])
        }
    finally:
        not_http.close()
    assert errors == {outbound.NO_RESPONSE}


def test_webhook_ssrf_connection_is_pinned_to_the_checked_address(
    hook_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name first resolves to an allowed address, then to another.
    The delivery goes to the checked one, and the name is looked up once."""
    hook_app.config["WEBHOOK_ALLOWED_NETWORKS"] = ["127.0.0.2/32"]
    checked = Listener("127.0.0.2")
    # On the same port, so that a second lookup would reach it.
    internal = Listener("127.0.0.1", port=checked.port)
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.example.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "127.0.0.2" if len(lookups) == 1 else "127.0.0.1"
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        delivery = _deliver_once(f"http://hooks.example.test:{checked.port}/hook")
        assert delivery.status == "delivered"
        assert checked.received == [("POST", "/hook")]
        assert internal.received == []
        assert lookups == ["hooks.example.test"]
    finally:
        checked.close()
        internal.close()


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # shared address space
        ("169.254.169.254", False),
        ("0.0.0.0", False),  # noqa: S104 (an address to refuse, not to bind)
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo
    ],
)
def test_webhook_ssrf_address_ranges(address: str, public: bool) -> None:
    assert outbound.is_public(ipaddress.ip_address(address)) is public
    listed = outbound.parse_networks("127.0.0.0/8, ::1/128")
    if address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert outbound.allowed(ipaddress.ip_address(address), listed)


def test_webhook_allowed_networks_setting_is_checked_at_start_up(make_app: Any) -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_ALLOWED_NETWORKS"):
        make_app("sqlite", WEBHOOK_ALLOWED_NETWORKS=["10.0.0.0/8", "not-a-network"])


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_webhook_https_is_pinned_and_checks_the_certificate_of_the_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over TLS the connection goes to the checked address while the certificate is
    verified for the URL's host name (SNI and Host carry the name)."""
    cert, key = _self_signed(tmp_path, "hooks.example.test")
    listener = Listener()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener.server.socket = context.wrap_socket(listener.server.socket, server_side=True)
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        return real("127.0.0.1" if host == "hooks.example.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = f"https://hooks.example.test:{listener.port}/hook"
    loopback = outbound.parse_networks(LOOPBACK)
    try:
        untrusted = outbound.post(url, b"{}", {}, timeout=3, networks=loopback)
        assert untrusted == outbound.Outcome(None, outbound.NO_RESPONSE)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test's own CA
        trusted = outbound.post(url, b"{}", {}, timeout=3, networks=loopback)
        assert trusted == outbound.Outcome(200, None)
        assert listener.received == [("POST", "/hook")]
        by_address = f"https://127.0.0.1:{listener.port}/hook"  # not the certificate's name
        assert outbound.post(by_address, b"{}", {}, timeout=3, networks=loopback).status is None
    finally:
        listener.close()
