"""The keys a production instance refuses to start without, made for one test."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from distserver.audit.checkpoints import generate_private_key_pem


def production_env(directory: Path, external_url: str = "http://127.0.0.1") -> dict[str, str]:
    """DISTSERVER_* variables for ENV=production with fresh keys under `directory`,
    serving `external_url` (give the port when links must reach a test server)."""
    directory.mkdir(parents=True, exist_ok=True)
    audit_key = directory / "audit-signing-key.pem"
    audit_key.write_bytes(generate_private_key_pem())
    audit_key.chmod(0o600)
    return {
        "DISTSERVER_ENV": "production",
        "DISTSERVER_EXTERNAL_URL": external_url,
        "DISTSERVER_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(36)).decode(),
        "DISTSERVER_AUDIT_SIGNING_KEY_FILE": str(audit_key),
        "DISTSERVER_TOTP_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "DISTSERVER_FINGERPRINT_KEYS": json.dumps(
            {"k1": base64.b64encode(os.urandom(32)).decode()}
        ),
        "DISTSERVER_FINGERPRINT_ACTIVE_KEY": "k1",
        # No SMTP server here: say so explicitly (production warns at start-up).
        "DISTSERVER_MAIL_BACKEND": "outbox",
    }
