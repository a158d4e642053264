"""The S3 storage backend: any S3-compatible endpoint (AWS, MinIO, Ceph, R2, rclone),
through one boto3 client built at start-up. Credentials come from boto3's own chain
(environment, profiles, instance roles); this module never reads or names them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from distserver.storage import content_disposition, validate_key
from distserver.storage.base import (
    Progress,
    StorageError,
    StoredBlob,
    blob_key,
    validate_ttl,
)
from distserver.storage.s3_multipart import hash_file, upload_to_blob_key
from distserver.storage.sigv4 import Credentials, QueryPresigner

MB = 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


class _ChunkFile:
    """A minimal file over an iterator of chunks: read(n) without holding more than one
    part's worth of bytes."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._done = False

    def read(self, size: int | None = -1) -> bytes:
        while not self._done and (size is None or size < 0 or len(self._buffer) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
            else:
                self._buffer += chunk
        take = len(self._buffer) if size is None or size < 0 else size
        data = bytes(self._buffer[:take])
        del self._buffer[:take]
        return data


class _HashingReader:
    """A read-only, non-seekable file that hashes what it hands out. Non-seekable on
    purpose: the transfer manager then reads it exactly once, in order, so the sha256
    covers precisely the bytes uploaded."""

    def __init__(self, raw: BinaryIO | _ChunkFile):
        self._raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self.digest.update(data)
        self.size += len(data)
        return data


class S3Storage:
    backend = "s3"

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        chunk_mb: int = 16,
        max_concurrency: int = 8,
        client: Any = None,
        public_endpoint_url: str | None = None,
    ) -> None:
        """`public_endpoint_url`: the endpoint clients reach, which presigned links name
        (and are signed for) when it differs from the one this server talks to."""
        if not bucket:
            raise ValueError("the S3 storage backend needs a bucket name")
        # S3 refuses multipart parts under 5 MiB (except the last) and over 5 GiB.
        if not 5 <= chunk_mb <= 5120:
            raise ValueError(f"the multipart chunk size must be 5..5120 MB, got {chunk_mb}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},  # works with every S3-compatible endpoint
            connect_timeout=3,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
            # We check sha256 ourselves; some servers send a whole-object checksum
            # with ranged reads, which botocore would reject.
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session()
        self.client = client or session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )
        # Publishing is a long batch job, not a request someone waits on: a connection
        # dropped during a part (seen on S3-compatible servers under load) is retried a few
        # more times, the part being in memory, before the whole publish stops.
        patient = config.merge(Config(retries={"max_attempts": 5, "mode": "standard"}))
        self.upload_client = client or session.client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=patient
        )
        chunk = chunk_mb * MB
        # A file up to one part is read whole (bounded: one part per file in flight),
        # hashed, and PUT straight at its blob key: no staging copy, one request.
        self.single_put_limit = chunk
        self.max_concurrency = max_concurrency
        self.upload_config = TransferConfig(
            multipart_threshold=chunk,
            multipart_chunksize=chunk,
            max_concurrency=max_concurrency,
            preferred_transfer_client="classic",
        )
        # Links name (and are signed for) the host clients send their requests to, which
        # may differ from the one this server talks to.
        self.presigner = QueryPresigner(
            public_endpoint_url or self.client.meta.endpoint_url,
            self.client.meta.region_name,
            bucket,
            self._credentials,
        )

    def _error(self, action: str, key: str | None, exc: Exception) -> StorageError:
        # Sentences built from error codes only: nothing from the request (which
        # carries the signature) and nothing from the credential chain.
        where = f"{key!r} in bucket {self.bucket!r}" if key else f"bucket {self.bucket!r}"
        endpoint = self.endpoint_url or "the AWS S3 endpoint"
        if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
            exc = exc.__context__
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
            why = f"S3 answered {err.get('Code') or 'an error'} (HTTP {status})"
        elif isinstance(exc, NoCredentialsError):
            why = "no S3 credentials were found in boto3's credential chain"
        elif isinstance(exc, S3UploadFailedError):
            why = "the upload failed"
        else:
            why = f"{endpoint} could not be reached ({type(exc).__name__})"
        return StorageError(f"S3 {action} of {where} failed: {why}.")

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                return None
            raise self._error("HEAD", key, exc) from None
        except BotoCoreError as exc:
            raise self._error("HEAD", key, exc) from None

    def _upload(self, reader: _HashingReader, key: str, progress: Progress | None) -> None:
        try:
            self.client.upload_fileobj(
                reader, self.bucket, key, Config=self.upload_config, Callback=progress
            )
        except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
            raise self._error("upload", key, exc) from None

    def _store_small(self, source: Path, progress: Progress | None) -> StoredBlob | None:
        """A file of at most one part: read once, hashed, PUT at its blob key unless that
        blob is there. None if the file turned out larger (it grew since the stat)."""
        with Path(source).open("rb") as src:
            data = src.read(self.single_put_limit + 1)
        if len(data) > self.single_put_limit:
            return None
        sha = hashlib.sha256(data).hexdigest()
        key = blob_key(sha)
        present = self._head(key) is not None
        if not present:
            try:
                # A single PUT is atomic: the key holds all the bytes or nothing.
                self.upload_client.put_object(Bucket=self.bucket, Key=key, Body=data)
            except (ClientError, BotoCoreError) as exc:
                raise self._error("upload", key, exc) from None
        if progress:
            progress(len(data))
        return StoredBlob(key=key, sha256=sha, size=len(data), already_present=present)

    # -- the Storage protocol -------------------------------------------------------

    def store_file(self, source: Path, *, progress: Progress | None = None) -> StoredBlob:
        """As the protocol says. A file of at most one part is read once (see
        `_store_small`). A larger one is hashed first, so its blob key is known before
        any byte is sent; if that blob is there nothing is uploaded, else the file is
        uploaded in parts straight to that key, hashed again as it is sent, and the
        upload completes only if both hashes agree (see storage/s3_multipart.py).
        `progress` gets the bytes stored (sent, or found already present); the hash
        pass does not count toward it."""
        if Path(source).stat().st_size <= self.single_put_limit:
            small = self._store_small(source, progress)
            if small is not None:
                return small
        sha, size = hash_file(source)
        key = blob_key(sha)
        if self._head(key) is not None:
            if progress:
                progress(size)
            return StoredBlob(key=key, sha256=sha, size=size, already_present=True)
        size = upload_to_blob_key(
            self.upload_client,
            self.bucket,
            key,
            source,
            sha,
            part_size=self.upload_config.multipart_chunksize,
            max_concurrency=self.max_concurrency,
            progress=progress,
            error_for=self._error,
        )
        return StoredBlob(key=key, sha256=sha, size=size)

    def store_stream(self, key: str, chunks: Iterable[bytes]) -> StoredBlob:
        validate_key(key)
        reader = _HashingReader(_ChunkFile(chunks))
        self._upload(reader, key, None)
        return StoredBlob(key=key, sha256=reader.digest.hexdigest(), size=reader.size)

    def exists(self, key: str) -> bool:
        return self._head(validate_key(key)) is not None

    def size(self, key: str) -> int:
        head = self._head(validate_key(key))
        if head is None:
            raise StorageError(f"no object is stored at {key!r}", code="storage_missing")
        return int(head["ContentLength"])

    def _get(self, key: str, **extra: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=validate_key(key), **extra)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in _MISSING:
                raise StorageError(
                    f"no object is stored at {key!r}", code="storage_missing"
                ) from None
            if code == "InvalidRange":
                return None
            raise self._error("GET", key, exc) from None
        except BotoCoreError as exc:
            raise self._error("GET", key, exc) from None

    def open(self, key: str) -> BinaryIO:
        return cast(BinaryIO, self._get(key)["Body"])

    def iter_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if start < 0 or end < start:
            raise ValueError(f"invalid byte range {start}-{end}")
        response = self._get(key, Range=f"bytes={start}-{end}")
        if response is None:  # the range starts past the end of the object
            return iter(())
        body = response["Body"]

        def chunks() -> Iterator[bytes]:
            with body:
                try:
                    yield from body.iter_chunks(MB)
                except BotoCoreError as exc:
                    raise self._error("GET", key, exc) from None

        return chunks()

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in _MISSING:
                raise self._error("DELETE", key, exc) from None
        except BotoCoreError as exc:
            raise self._error("DELETE", key, exc) from None

    def _credentials(self) -> Credentials:
        # The chain botocore resolved for this client (refreshed by botocore if it is
        # a refreshable kind, e.g. an instance role).
        chain = self.client._request_signer._credentials
        if chain is None:
            raise NoCredentialsError()
        frozen = chain.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def signed_url(
        self, key: str, *, ttl: int, filename: str, base_url: str, link_id: str | None = None
    ) -> str:
        """Signed locally with SigV4 query parameters (see storage/sigv4.py), equal to
        what boto3's `generate_presigned_url("get_object", ...)` gives."""
        validate_ttl(ttl)
        params = {"response-content-disposition": content_disposition(filename)}
        if link_id:
            # Logged in the Request-URI of S3's access records (distserver/alerts/fetches.py).
            params["response-cache-control"] = f"private, no-store, x-link-id={link_id}"
        try:
            return self.presigner.url(validate_key(key), expires=ttl, params=params)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("signing a link", key, exc) from None

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise self._error("HEAD", None, exc) from None
