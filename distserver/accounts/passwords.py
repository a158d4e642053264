"""Password hashing with Argon2id. Its cost is the PASSWORD_HASH_COST setting:
"rfc9106" (argon2-cffi's defaults, RFC 9106's low-memory choice) everywhere but the
tests, which hash with argon2-cffi's cheapest parameters ("minimal") unless a test is
about the cost itself. A hash records its own parameters, so verifying costs what
hashing it did, whatever the setting."""

from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context

HASHERS = {
    "rfc9106": PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY),
    "minimal": PasswordHasher.from_parameters(profiles.CHEAPEST),
}
DEFAULT_COST = "rfc9106"


def hash_cost() -> str:
    """The PASSWORD_HASH_COST of the current app (outside one, the default)."""
    if has_app_context():
        return str(current_app.config.get("PASSWORD_HASH_COST") or DEFAULT_COST)
    return DEFAULT_COST


def _hasher() -> PasswordHasher:
    return HASHERS[hash_cost()]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def needs_rehash(stored: str) -> bool:
    """Whether `stored` was made with other parameters than new hashes get."""
    return _hasher().check_needs_rehash(stored)


def verify_password(stored: str | None, password: str) -> bool:
    if not stored:
        return False
    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
