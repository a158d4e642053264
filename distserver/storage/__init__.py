"""The storage layer: the `Storage` protocol (base.py), its two backends (local.py,
s3.py) and `build_storage`, which picks one from the settings.

Backends are imported inside `build_storage`, so a local install never imports boto3
and the backends can import the helpers below without an import cycle.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from distserver.errors import BadRequest, ConfigError
from distserver.storage.base import (
    MAX_LINK_TTL,
    LinkRefused,
    Progress,
    Storage,
    StorageError,
    StoredBlob,
    blob_key,
    validate_ttl,
)

__all__ = [
    "MAX_LINK_TTL",
    "InvalidKey",
    "LinkRefused",
    "Progress",
    "Storage",
    "StorageError",
    "StoredBlob",
    "blob_key",
    "build_storage",
    "content_disposition",
    "validate_key",
    "validate_ttl",
]

# Temporary files of the local backend; no key may name one.
RESERVED_PREFIX = ".distserver-tmp"
MAX_KEY_LENGTH = 1024  # the S3 limit, in UTF-8 bytes


class InvalidKey(BadRequest, ValueError):
    """A storage key that could escape the store or alias another key."""

    code = "invalid_key"


def validate_key(key: str) -> str:
    """Return `key` if it is a relative, canonical, '/'-separated path, else InvalidKey.
    Both backends apply the same rule, so a key that works on one works on the other."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("a storage key must be a non-empty string")
    return _checked_key(key)


@functools.lru_cache(maxsize=4096)
def _checked_key(key: str) -> str:
    # Cached: the same blob keys are signed over and over, and the character check
    # is the costliest part of signing a link. Only valid keys are remembered.
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_LENGTH:
        raise InvalidKey(f"a storage key must be at most {MAX_KEY_LENGTH} bytes")
    if ".." in key:
        raise InvalidKey(f"storage key {key!r} contains '..'")
    if key.startswith("/") or "\\" in key:
        raise InvalidKey(f"storage key {key!r} must be a relative path with '/' separators")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in key):
        raise InvalidKey(f"storage key {key!r} contains NUL or a control character")
    for part in key.split("/"):
        if part in ("", "."):
            raise InvalidKey(f"storage key {key!r} has an empty or '.' path segment")
        if part.startswith(RESERVED_PREFIX):
            raise InvalidKey(f"storage key {key!r} uses the reserved name {RESERVED_PREFIX}")
    return key


_UNSAFE_IN_FILENAME = re.compile(r'["\x00-\x1f\x7f]')
_RFC5987_SAFE = "!#$&+-.^_`|~"


def content_disposition(filename: str) -> str:
    """`attachment; filename="..."` for `filename`, safe to put in a header: only its
    last path segment, without quotes or control characters; a non-ASCII name gets an
    ASCII fallback plus RFC 5987 `filename*=UTF-8''...` (as RFC 6266 advises)."""
    name = re.split(r"[/\\]", filename)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs"))
    name = _UNSAFE_IN_FILENAME.sub("", name).strip().strip(".") or "download"
    if name.isascii():
        return f'attachment; filename="{name}"'
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    fallback = _UNSAFE_IN_FILENAME.sub("", fallback).strip().strip(".") or "download"
    encoded = quote(name, safe=_RFC5987_SAFE)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def build_storage(settings: Mapping[str, Any]) -> Storage:
    """The backend named by settings["STORAGE"]; ConfigError (never a fallback) for an
    unknown name or an unusable setting."""
    backend = str(settings.get("STORAGE", ""))
    if backend == "local":
        from distserver.storage.local import LocalStorage

        return LocalStorage(
            Path(settings["INSTANCE_DIR"]) / "blobs",
            secret_key=str(settings["SECRET_KEY"]),
            accel_prefix=str(settings.get("LOCAL_ACCEL_REDIRECT_PREFIX") or ""),
        )
    if backend == "s3":
        from distserver.storage.s3 import S3Storage

        bucket = str(settings.get("S3_BUCKET") or "")
        if not bucket:
            raise ConfigError("DISTSERVER_STORAGE=s3 needs DISTSERVER_S3_BUCKET")
        public = str(settings.get("S3_PUBLIC_ENDPOINT_URL") or "")
        parts = urlsplit(public)
        if public and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ConfigError(
                f"DISTSERVER_S3_PUBLIC_ENDPOINT_URL={public!r} is not an http(s) URL: set "
                "the S3 endpoint clients reach, such as https://s3.example.org"
            )
        try:
            return S3Storage(
                bucket,
                public_endpoint_url=public or None,
                endpoint_url=str(settings.get("S3_ENDPOINT_URL") or "") or None,
                region=str(settings.get("S3_REGION") or "us-east-1"),
                chunk_mb=int(settings.get("S3_MULTIPART_CHUNK_MB", 16)),
                max_concurrency=int(settings.get("S3_MAX_CONCURRENCY", 8)),
            )
        except ValueError as exc:
            raise ConfigError(f"the S3 storage settings are not usable: {exc}") from None
    raise ConfigError(
        f"DISTSERVER_STORAGE={backend!r} is not a storage backend: use 'local' or 's3'"
    )
