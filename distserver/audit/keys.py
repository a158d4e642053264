"""The Ed25519 key that signs audit checkpoints and download receipts.

Where it comes from: the PEM file named by the setting AUDIT_SIGNING_KEY_FILE; outside
production, when that is not set, a key generated once into the instance directory as
`audit-signing-key.pem` (mode 0600). Production without a key file is a ConfigError. The
public key is written next to the instance's key as `audit-public-key.pem`, for publishing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from distserver.audit.checkpoints import (
    generate_private_key_pem,
    key_id,
    load_private_key,
    load_public_key,
    public_key_pem,
)
from distserver.errors import ConfigError
from distserver.instance_files import create_once, write_whole

PRIVATE_NAME = "audit-signing-key.pem"
PUBLIC_NAME = "audit-public-key.pem"
RECEIPT_DOMAIN = b"distserver-download-receipt-v1\n"


def _instance(settings: Mapping[str, Any]) -> Path:
    return Path(str(settings["INSTANCE_DIR"]))


def signing_key(settings: Mapping[str, Any]) -> Ed25519PrivateKey:
    """The audit signing key for these settings (see the module docstring)."""
    configured = settings.get("AUDIT_SIGNING_KEY_FILE")
    if configured:
        path = Path(str(configured))
        try:
            key = load_private_key(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"AUDIT_SIGNING_KEY_FILE={path}: file not found") from None
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"AUDIT_SIGNING_KEY_FILE={path}: not an unencrypted Ed25519 PEM key ({exc})"
            ) from None
    elif settings.get("ENV") == "production":
        raise ConfigError(
            "DISTSERVER_AUDIT_SIGNING_KEY_FILE is not set: production needs an Ed25519 key "
            "(openssl genpkey -algorithm ed25519 -out audit-signing-key.pem)"
        )
    else:
        key = _instance_key(_instance(settings) / PRIVATE_NAME)
    _write_public(_instance(settings) / PUBLIC_NAME, key)
    return key


def _instance_key(path: Path) -> Ed25519PrivateKey:
    # Several processes may start at once on a fresh instance: one key, written whole.
    return load_private_key(create_once(path, generate_private_key_pem))


def _write_public(path: Path, key: Ed25519PrivateKey) -> None:
    pem = public_key_pem(key)
    try:
        if not path.exists() or path.read_bytes() != pem:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, pem)
    except OSError:
        pass  # publishing the file is a convenience; the key itself is what matters


def public_key(settings: Mapping[str, Any]) -> Ed25519PublicKey:
    return signing_key(settings).public_key()


def read_public_key(path: str | Path) -> Ed25519PublicKey:
    """An outsider's copy of the public key (PEM), for offline verification."""
    try:
        return load_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable Ed25519 public key PEM ({exc})") from None


def receipt_message(receipt: Mapping[str, Any]) -> bytes:
    """The bytes a receipt signature covers: a domain line, then the receipt as JSON with
    sorted keys, no whitespace, non-ASCII as-is (UTF-8)."""
    body = json.dumps(receipt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return RECEIPT_DOMAIN + body.encode("utf-8")


def sign_receipt(key: Ed25519PrivateKey, receipt: Mapping[str, Any]) -> dict[str, Any]:
    """{"receipt": ..., "key_id": ..., "signature": base64} — what /receipts/ returns."""
    signature = base64.b64encode(key.sign(receipt_message(receipt))).decode("ascii")
    return {"receipt": dict(receipt), "key_id": key_id(key.public_key()), "signature": signature}


def verify_receipt(key: Ed25519PublicKey, signed: Mapping[str, Any]) -> bool:
    """True if `signed` (as sign_receipt returns it) was signed by this key."""
    try:
        if signed["key_id"] != key_id(key):
            return False
        key.verify(
            base64.b64decode(signed["signature"], validate=True), receipt_message(signed["receipt"])
        )
    except (InvalidSignature, KeyError, TypeError, ValueError):
        return False
    return True
