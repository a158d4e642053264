"""Master keys of the fingerprint, from settings.

``FINGERPRINT_KEYS`` maps key ids to base64-encoded master keys (at least 16 bytes,
32 recommended), e.g. ``DISTSERVER_FINGERPRINT_KEYS='{"2026a": "...base64..."}'``;
``FINGERPRINT_ACTIVE_KEY`` names the one new copies are marked with (it may be left
out when there is only one key).

Rotation: add a new key to ``FINGERPRINT_KEYS`` and point ``FINGERPRINT_ACTIVE_KEY``
at it. Keep the old keys: every copy records the key id it was marked with, copies
already made keep being served as they are, and ``distserver trace`` needs the old key
to score them.

Outside production, when no key is configured, one is generated on first use into
``<instance>/fingerprint_keys.json`` (mode 0600) and kept across restarts. Production
refuses to mark anything without a configured key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distserver.errors import DistserverError
from distserver.instance_files import create_once

MIN_KEY_BYTES = 16
KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
GENERATED_FILE = "fingerprint_keys.json"


class FingerprintKeyError(DistserverError):
    """The fingerprint keys are missing or malformed: nothing can be marked or traced."""

    status = 503
    code = "fingerprint_unavailable"


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, bytes]
    active_id: str

    @property
    def active(self) -> bytes:
        return self.keys[self.active_id]

    def require(self, key_ids: set[str]) -> None:
        """Raise unless every key id (recorded on some copy) is still configured."""
        missing = sorted(key_ids - set(self.keys))
        if missing:
            raise FingerprintKeyError(
                f"Fingerprint key(s) {', '.join(missing)} are recorded on copies but no longer "
                "in FINGERPRINT_KEYS: add them back (old keys must be kept to trace old copies)."
            )


def load_keys(settings: Mapping[str, Any]) -> KeyRing:
    """The key ring from settings (see the module docstring); FingerprintKeyError if
    it is unusable. Outside production a missing ring is generated in the instance."""
    raw = settings.get("FINGERPRINT_KEYS") or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise FingerprintKeyError(
                "FINGERPRINT_KEYS must be a JSON object of key id -> base64 key."
            ) from None
    if not isinstance(raw, Mapping):
        raise FingerprintKeyError("FINGERPRINT_KEYS must map key ids to base64 keys.")
    active = str(settings.get("FINGERPRINT_ACTIVE_KEY") or "")
    if not raw:
        if settings.get("ENV", "production") == "production":
            raise FingerprintKeyError(
                "No fingerprint key is configured: set DISTSERVER_FINGERPRINT_KEYS to "
                '\'{"<key id>": "<base64 of 32 random bytes>"}\' and '
                "DISTSERVER_FINGERPRINT_ACTIVE_KEY to that key id."
            )
        raw, generated_id = _generated(Path(str(settings["INSTANCE_DIR"])))
        active = active or generated_id
    keys = {str(k): _decode(str(k), v) for k, v in raw.items()}
    if not active:
        if len(keys) != 1:
            raise FingerprintKeyError(
                "Several fingerprint keys are configured: set FINGERPRINT_ACTIVE_KEY to the "
                "one new copies are marked with."
            )
        active = next(iter(keys))
    if active not in keys:
        raise FingerprintKeyError(
            f"FINGERPRINT_ACTIVE_KEY {active!r} is not one of FINGERPRINT_KEYS "
            f"({', '.join(sorted(keys))})."
        )
    return KeyRing(keys, active)


def new_key() -> str:
    """A fresh master key, base64-encoded, for FINGERPRINT_KEYS."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _decode(key_id: str, value: object) -> bytes:
    if not KEY_ID_RE.match(key_id):
        raise FingerprintKeyError(
            f"Fingerprint key id {key_id!r} must be 1-64 letters, digits, '_', '.' or '-'."
        )
    try:
        key = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise FingerprintKeyError(f"Fingerprint key {key_id!r} is not valid base64.") from None
    if len(key) < MIN_KEY_BYTES:
        raise FingerprintKeyError(
            f"Fingerprint key {key_id!r} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(32 recommended)."
        )
    return key


def _generated(instance: Path) -> tuple[dict[str, str], str]:
    """Development and tests: one generated key per instance, kept across restarts; two
    processes starting at once agree on one key (distserver.instance_files)."""
    path = instance / GENERATED_FILE
    create_once(
        path, lambda: json.dumps({"active": "dev-1", "keys": {"dev-1": new_key()}}).encode()
    )
    data = json.loads(path.read_text())
    return dict(data["keys"]), str(data["active"])
