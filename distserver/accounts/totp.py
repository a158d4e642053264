"""The TOTP second factor: secrets encrypted at rest (Fernet, keyed from the
TOTP_ENCRYPTION_KEY setting), codes checked with pyotp and never accepted twice,
one-time recovery codes stored as SHA-256 hashes, and the enrolment QR code drawn
server-side as SVG by qrcode."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyotp
import qrcode
import qrcode.image.svg
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from distserver.errors import ConfigError

ISSUER_NAME = "distserver"
RECOVERY_CODES = 10
# Codes from one step before or after are accepted (clock drift of up to 30 s).
VALID_WINDOW = 1
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def fernet_for(settings: Mapping[str, Any] | None = None) -> Fernet:
    """The cipher for TOTP secrets. TOTP_ENCRYPTION_KEY may be a Fernet key or any
    long passphrase (stretched with HKDF); outside production an empty one is
    derived from SECRET_KEY, so development needs no extra setting."""
    config = settings if settings is not None else current_app.config
    raw = str(config.get("TOTP_ENCRYPTION_KEY") or "")
    if not raw:
        if config.get("ENV") == "production":
            raise ConfigError(
                "DISTSERVER_TOTP_ENCRYPTION_KEY is not set: production needs its own key "
                "for TOTP secrets (python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            )
        raw = "derived-from-secret-key:" + str(config["SECRET_KEY"])
    elif len(raw) < 32:
        raise ConfigError("DISTSERVER_TOTP_ENCRYPTION_KEY must be at least 32 characters.")
    try:
        return Fernet(raw.encode())
    except ValueError:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"distserver totp").derive(
            raw.encode()
        )
        return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt_secret(secret: str) -> str:
    return fernet_for().encrypt(secret.encode()).decode()


def decrypt_secret(stored: str) -> str:
    try:
        return fernet_for().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            "A TOTP secret cannot be decrypted: TOTP_ENCRYPTION_KEY changed since enrolment."
        ) from None


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code equals `code` (within the window), or None."""
    code = "".join(code.split())
    if not (code.isascii() and code.isdigit() and len(code) == 6):  # "²" is a digit too
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER_NAME)


def qr_data_uri(uri: str) -> str:
    """An SVG QR code as a data: URI (allowed by the CSP's img-src; no script)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def new_recovery_codes() -> list[str]:
    """Ten codes of 16 characters (about 79 random bits each), grouped for reading."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_hash(code: str) -> str:
    normal = "".join(c for c in code.lower() if c.isalnum())
    return hashlib.sha256(("distserver-recovery:" + normal).encode()).hexdigest()
