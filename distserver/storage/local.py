"""The local storage backend: blobs in a directory, served by the app at
`/files/<token>`. It is meant for the demo and small installs; production serves
bytes from S3 (s3.py), or at least hands byte-serving to nginx (X-Accel-Redirect).

A token is an itsdangerous-signed payload naming the key, the download filename and
an absolute expiry (unix seconds), so the app needs no state to check it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from itsdangerous import BadData, URLSafeSerializer

from distserver.storage import (
    RESERVED_PREFIX,
    InvalidKey,
    content_disposition,
    validate_key,
)
from distserver.storage.base import (
    LinkRefused,
    Progress,
    StorageError,
    StoredBlob,
    blob_key,
    validate_ttl,
)

CHUNK = 1024 * 1024
TOKEN_SALT = "distserver.files"  # noqa: S105 (a namespace for signatures, not a secret)
MAX_TOKEN_LENGTH = 4096


@dataclass(frozen=True)
class LocalObject:
    """What a valid /files/ token names: the route serves `path` (with Range support)
    or hands it to nginx through `LocalStorage.accel_redirect_path(key)`."""

    key: str
    filename: str
    path: Path
    size: int
    expires_at: int
    link_id: str | None = None

    @property
    def content_disposition(self) -> str:
        return content_disposition(self.filename)


class LocalStorage:
    backend = "local"

    def __init__(self, root: Path, secret_key: str, accel_prefix: str = "") -> None:
        if not secret_key:
            raise ValueError("the local storage backend needs a secret key to sign links")
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.accel_prefix = accel_prefix.rstrip("/")
        self._tokens = URLSafeSerializer(secret_key, salt=TOKEN_SALT)

    # -- keys and files -------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        path = self.root / validate_key(key)
        # Defence in depth: a symlink planted inside root must not lead outside it.
        if not path.resolve().is_relative_to(self.root):
            raise InvalidKey(f"storage key {key!r} resolves outside the storage root")
        return path

    def _existing(self, key: str) -> Path:
        path = self.path_for(key)
        if not path.is_file():
            raise StorageError(f"no object is stored at {key!r}", code="storage_missing")
        return path

    def _temp_in(self, directory: Path) -> tuple[BinaryIO, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=RESERVED_PREFIX + "-", dir=directory)
        return os.fdopen(fd, "wb"), Path(name)

    def _write_chunks(
        self, directory: Path, chunks: Iterable[bytes], progress: Progress | None = None
    ) -> tuple[Path, str, int]:
        """Write chunks to a temp file in `directory`, hashing as they pass; the caller
        renames the file into place (same filesystem, so the rename is atomic)."""
        digest, size = hashlib.sha256(), 0
        out, tmp = self._temp_in(directory)
        try:
            with out:
                for chunk in chunks:
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, digest.hexdigest(), size

    # -- the Storage protocol -------------------------------------------------------

    def store_file(self, source: Path, *, progress: Progress | None = None) -> StoredBlob:
        """As the protocol says; `progress` gets the byte count of each chunk read."""
        with Path(source).open("rb") as src:
            # The key depends on the hash, so stage in root (same filesystem as the blob).
            tmp, sha, size = self._write_chunks(
                self.root, iter(lambda: src.read(CHUNK), b""), progress
            )
        key = blob_key(sha)
        dest = self.path_for(key)
        try:
            if dest.is_file():
                return StoredBlob(key=key, sha256=sha, size=size, already_present=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageError(f"could not store blob {key!r}: {exc.strerror}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return StoredBlob(key=key, sha256=sha, size=size)

    def store_stream(self, key: str, chunks: Iterable[bytes]) -> StoredBlob:
        dest = self.path_for(key)
        tmp, sha, size = self._write_chunks(dest.parent, chunks)
        try:
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"could not store {key!r}: {exc.strerror}") from exc
        return StoredBlob(key=key, sha256=sha, size=size)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def open(self, key: str) -> BinaryIO:
        return self._existing(key).open("rb")

    def iter_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if start < 0 or end < start:
            raise ValueError(f"invalid byte range {start}-{end}")
        fh = self.open(key)  # opened before the generator runs, so a miss raises here

        def chunks() -> Iterator[bytes]:
            with fh:
                fh.seek(start)
                remaining = end - start + 1
                while remaining > 0:
                    chunk = fh.read(min(CHUNK, remaining))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    yield chunk

        return chunks()

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def signed_url(
        self, key: str, *, ttl: int, filename: str, base_url: str, link_id: str | None = None
    ) -> str:
        validate_ttl(ttl)
        validate_key(key)
        payload: dict[str, object] = {"k": key, "f": filename, "e": int(time.time()) + ttl}
        if link_id:
            payload["l"] = link_id
        return f"{base_url.rstrip('/')}/files/{self._tokens.dumps(payload)}"

    def check(self) -> None:
        if not os.access(self.root, os.R_OK | os.W_OK | os.X_OK):
            raise StorageError(f"the local storage directory {self.root} is not writable")
        if shutil.disk_usage(self.root).free == 0:
            raise StorageError(f"the local storage directory {self.root} has no free space")

    # -- serving /files/<token> -----------------------------------------------------

    def resolve_token(self, token: str, now: float | None = None) -> LocalObject:
        """The object a /files/ token names, or LinkRefused if the token was altered,
        has expired, or names nothing stored."""
        # Tokens we issue are short ASCII; anything else is refused before decoding
        # (compare_digest below cannot compare non-ASCII str).
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise LinkRefused("this download link is not valid")
        try:
            payload = self._tokens.loads(token)
        except BadData:
            raise LinkRefused("this download link is not valid") from None
        # base64 decoding forgives some edits (spare bits of the last character, stray
        # characters); only the exact token this server issued is accepted.
        if not hmac.compare_digest(self._tokens.dumps(payload), token):
            raise LinkRefused("this download link is not valid")
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("k"), str)
            and isinstance(payload.get("f"), str)
            and type(payload.get("e")) is int
        ):
            raise LinkRefused("this download link is not valid")
        expires_at = payload["e"]
        if (time.time() if now is None else now) >= expires_at:
            raise LinkRefused("this download link has expired", code="link_expired")
        try:
            path = self._existing(payload["k"])
            size = path.stat().st_size
        except (StorageError, InvalidKey, OSError):
            raise LinkRefused("this download link names a file that is gone") from None
        link_id = payload.get("l")
        link_id = link_id if isinstance(link_id, str) else None
        return LocalObject(payload["k"], payload["f"], path, size, expires_at, link_id)

    def accel_redirect_path(self, key: str) -> str | None:
        """The internal URI to put in X-Accel-Redirect, or None when nginx is not in
        front (then the app streams the file itself)."""
        if not self.accel_prefix:
            return None
        return f"{self.accel_prefix}/{quote(validate_key(key), safe='/')}"
