"""The OIDC provider the SSO tests run against starts and publishes its discovery document."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

OP_DIR = Path(__file__).resolve().parent.parent / "oidc"


def test_the_oidc_provider_serves_discovery() -> None:
    assert (OP_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "the OIDC provider's npm packages are missing: run `make test` (npm ci in tests/oidc)"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["node", "op.mjs", str(port), "distserver", "s3cret", "http://127.0.0.1:1/cb"],
        cwd=OP_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        for _ in range(60):
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    doc = json.load(r)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                time.sleep(0.25)
        else:
            raise AssertionError("the OIDC provider did not answer within 15 s")
        assert doc["issuer"] == f"http://127.0.0.1:{port}"
        assert "authorization_endpoint" in doc
        assert "jwks_uri" in doc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
