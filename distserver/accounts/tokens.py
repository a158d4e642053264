"""API token format: `dst_` + 32 base62 characters (190 random bits) + a 6-character
base62 CRC32 checksum, so a mistyped or truncated token is refused before any
database query. Only the SHA-256 of a token is stored; with this much entropy a
fast hash is enough (no dictionary to attack)."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib

PREFIX = "dst_"
ALPHABET = string.digits + string.ascii_letters
BODY_LEN = 32
CHECK_LEN = 6
TOKEN_LEN = len(PREFIX) + BODY_LEN + CHECK_LEN


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        out.append(ALPHABET[rem])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECK_LEN)


def generate() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LEN))
    return PREFIX + body + _checksum(body)


# Prefix, length and alphabet in one match (ALPHABET is exactly [0-9A-Za-z]).
_SHAPE = re.compile(f"{PREFIX}[0-9A-Za-z]{{{BODY_LEN + CHECK_LEN}}}")


def well_formed(raw: str) -> bool:
    """Prefix, length, alphabet and checksum: no database needed."""
    if len(raw) != TOKEN_LEN or not _SHAPE.fullmatch(raw):
        return False
    body, check = raw[len(PREFIX) : -CHECK_LEN], raw[-CHECK_LEN:]
    return secrets.compare_digest(_checksum(body), check)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def display_prefix(raw: str) -> str:
    return raw[: len(PREFIX) + 6]
