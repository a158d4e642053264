"""Checks made once in create_app: every key the server will need is present and
usable, so a misconfigured production host refuses to start with a sentence instead
of failing on its first download, sign-in or sealing run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from distserver.access.tiers import Tier
from distserver.errors import ConfigError


def check_keys(settings: Mapping[str, Any], tiers: Mapping[str, Tier]) -> None:
    from distserver.accounts.totp import fernet_for
    from distserver.audit.keys import signing_key
    from distserver.config import require_external_url
    from distserver.fingerprint.keys import FingerprintKeyError, load_keys

    require_external_url(dict(settings))
    signing_key(settings)
    fernet_for(dict(settings))
    if any(t.fingerprint for t in tiers.values()):
        try:
            load_keys(settings)
        except FingerprintKeyError as exc:
            raise ConfigError(str(exc)) from None


def start_background_jobs(app: Flask) -> None:
    """The audit sealer, when AUDIT_SEAL_INTERVAL (seconds) is above zero."""
    interval = float(app.config.get("AUDIT_SEAL_INTERVAL") or 0)
    if interval > 0:
        from distserver.audit.sealing import start_sealing_thread

        app.extensions["distserver.sealer"] = start_sealing_thread(app, interval)
