"""The storage contract. Every backend promises what these docstrings say, and
tests/storage/test_contract.py holds each backend to it.

Keys are opaque strings chosen by the catalog. Published blobs live at
content-addressed keys (`blob_key(sha256)`), so identical bytes are stored once.
Storage returns plain values (URLs, bytes, dataclasses), never HTTP responses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from distserver.errors import DistserverError

# SigV4 presigned URLs cannot outlive seven days; no backend may sign longer.
MAX_LINK_TTL = 7 * 24 * 3600

Progress = Callable[[int], None]


def blob_key(sha256: str) -> str:
    """The content-addressed key of a blob: blobs/sha256/<first two hex>/<sha256>."""
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


@dataclass(frozen=True)
class StoredBlob:
    key: str
    sha256: str
    size: int
    already_present: bool = False


class StorageError(DistserverError):
    status = 503
    code = "storage_unavailable"


class LinkRefused(DistserverError):
    """A local /files/ token that is expired, tampered with, or names no object."""

    status = 403
    code = "link_invalid"


@runtime_checkable
class Storage(Protocol):
    backend: str

    def store_file(self, source: Path, *, progress: Progress | None = None) -> StoredBlob:
        """Store a file at its content-addressed key. The sha256 recorded is that of the
        bytes stored: a backend that hashes in a pass before the upload hashes again
        as it uploads, and fails (StorageError, code `source_changed`, nothing stored)
        if the file changed in between. If a blob with that sha256 already exists it is
        left as is and `already_present` is True. Never leaves a partial object at a
        blob key."""

    def store_stream(self, key: str, chunks: Iterable[bytes]) -> StoredBlob:
        """Store the concatenated chunks at `key` (any key, e.g. a per-recipient copy),
        streaming: the whole object is never held in memory. Replaces what was there."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored at `key`."""

    def size(self, key: str) -> int:
        """The stored object's size in bytes; StorageError if it is missing."""

    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (the caller closes it)."""

    def iter_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes start..end inclusive of the object, as chunks."""

    def delete(self, key: str) -> None:
        """Remove the object; no error if it is already gone."""

    def signed_url(
        self, key: str, *, ttl: int, filename: str, base_url: str, link_id: str | None = None
    ) -> str:
        """A URL that serves the object's bytes to anyone holding it for `ttl` seconds
        (1..MAX_LINK_TTL, else ValueError), with Content-Disposition naming `filename`,
        and is refused once expired or if any part of it is altered. Signing is local:
        it needs no round trip to the store. `base_url` is this server's external root,
        used by backends that serve through the app. `link_id`, when given, is carried
        in the URL so the store's own access records name the link each fetch used."""

    def check(self) -> None:
        """Raise StorageError unless the store is reachable (for /readyz)."""


def validate_ttl(ttl: int) -> int:
    if not isinstance(ttl, int) or ttl < 1 or ttl > MAX_LINK_TTL:
        raise ValueError(f"link lifetime must be 1..{MAX_LINK_TTL} seconds, got {ttl!r}")
    return ttl
