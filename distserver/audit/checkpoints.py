"""Signed checkpoints of the audit chain, and the Ed25519 keys that sign them.

A checkpoint says "the chain's hash at sequence number `seq` is `head_hash`",
signed by the lab's audit key. Anyone with the public key can then check that
the log they hold still reaches that head (see `distserver.audit.chain`).

This module is pure: no database, no Flask. It also holds the one timestamp
format the chain uses (`format_utc`), so that `chain` can build on it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

CHECKPOINT_DOMAIN = b"distserver-audit-checkpoint-v1\n"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_UTC_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def format_utc(moment: datetime) -> str:
    """The chain's timestamp text: `YYYY-MM-DDTHH:MM:SS.ffffffZ`, always in UTC,
    always with six digits of microseconds. Naive datetimes are refused."""
    if not isinstance(moment, datetime):
        raise TypeError(f"expected a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: the audit chain needs timezone-aware times")
    m = moment.astimezone(UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T"
        f"{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"
    )


def parse_utc(text: str) -> datetime:
    """The inverse of `format_utc`; anything not in exactly that form is refused."""
    if not isinstance(text, str) or not _UTC_TEXT.fullmatch(text):
        raise ValueError(f"not a canonical UTC timestamp: {text!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def is_hash_hex(value: object) -> bool:
    """True for exactly 64 lowercase hex digits (the only accepted spelling of a hash)."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: str  # 64 lowercase hex: the chain hash after the event at `seq`
    created_at: str  # format_utc text
    key_id: str  # key_id() of the signing key
    signature: str  # standard base64 (with padding) of the 64-byte Ed25519 signature

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise ValueError(
                "a checkpoint needs exactly seq, head_hash, created_at, key_id, signature"
            )
        if type(data["seq"]) is not int or not all(
            isinstance(data[k], str) for k in ("head_hash", "created_at", "key_id", "signature")
        ):
            raise ValueError("a checkpoint field has the wrong type")
        return cls(**data)


def checkpoint_message(seq: int, head_hash: str | bytes, created_at: str | datetime) -> bytes:
    """The exact bytes a checkpoint signature covers (ASCII):

        b"distserver-audit-checkpoint-v1\\n"
        + f"{seq}\\n{head_hash}\\n{created_at}\\n"

    `seq` in decimal (no sign, no leading zeros), `head_hash` as 64 lowercase hex
    digits, `created_at` as `format_utc` text (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
    The first line separates these signatures from any other use of the key.
    """
    if type(seq) is not int or not 0 <= seq < 2**64:
        raise ValueError("seq must be an int in [0, 2**64)")
    head = head_hash.hex() if isinstance(head_hash, bytes) else head_hash
    if not is_hash_hex(head):
        raise ValueError("head_hash must be 32 bytes or 64 lowercase hex digits")
    when = format_utc(created_at) if isinstance(created_at, datetime) else created_at
    parse_utc(when)
    return CHECKPOINT_DOMAIN + f"{seq}\n{head}\n{when}\n".encode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_checkpoint(
    private_key: Ed25519PrivateKey,
    seq: int,
    head_hash: str | bytes,
    created_at: str | datetime,
) -> Checkpoint:
    message = checkpoint_message(seq, head_hash, created_at)
    head = head_hash.hex() if isinstance(head_hash, bytes) else head_hash
    when = format_utc(created_at) if isinstance(created_at, datetime) else created_at
    signature = base64.b64encode(private_key.sign(message)).decode("ascii")
    return Checkpoint(seq, head, when, key_id(private_key.public_key()), signature)


def verify_checkpoint(public_key: Ed25519PublicKey, cp: Checkpoint) -> bool:
    """True only if `cp` names this key and its signature over
    `checkpoint_message(cp.seq, cp.head_hash, cp.created_at)` is valid.
    Any malformed field (including a non-canonical base64 spelling) gives False."""
    try:
        if cp.key_id != key_id(public_key):
            return False
        message = checkpoint_message(cp.seq, cp.head_hash, cp.created_at)
        signature = base64.b64decode(cp.signature.encode("ascii"), validate=True)
        if len(signature) != 64 or base64.b64encode(signature).decode("ascii") != cp.signature:
            return False
        public_key.verify(signature, message)
    except (InvalidSignature, ValueError, TypeError, AttributeError, binascii.Error):
        return False
    return True


def generate_private_key_pem() -> bytes:
    """A new Ed25519 key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    """The matching public key as SubjectPublicKeyInfo PEM (what verifiers need)."""
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(pem: bytes, password: bytes | None = None) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the audit signing key must be an Ed25519 key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the audit verification key must be an Ed25519 key")
    return key
