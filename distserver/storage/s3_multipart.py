"""A file larger than one part, uploaded in parts straight to its content-addressed key.

The caller hashes the file first (`hash_file`) and so knows the blob key before any
byte is sent; `upload_to_blob_key` then hashes the bytes again as it sends them. An
S3 multipart object becomes visible only at CompleteMultipartUpload, so if the second
hash differs (the file changed in between) or anything fails, the upload is aborted
and nothing is left at the key. Hand-written rather than boto3's transfer manager
because that manager completes the upload itself, before the second hash can be
compared.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from distserver.storage.base import Progress, StorageError

ErrorFor = Callable[[str, str | None, Exception], StorageError]


def hash_file(source: Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size, in one read pass (from the page cache this runs
    at GB/s, a small cost beside the upload)."""
    with Path(source).open("rb") as src:
        digest = hashlib.file_digest(src, "sha256")
        return digest.hexdigest(), src.tell()


def changed_during_publish(source: Path) -> StorageError:
    return StorageError(
        f"{source} changed during publish (its bytes differ from those hashed a moment "
        "before); nothing was stored: publish again once it no longer changes.",
        code="source_changed",
        status=409,
    )


def upload_to_blob_key(
    client: Any,
    bucket: str,
    key: str,
    source: Path,
    sha256: str,
    *,
    part_size: int,
    max_concurrency: int,
    progress: Progress | None,
    error_for: ErrorFor,
) -> int:
    """Upload `source` in parts to `key` (its blob key, for `sha256`) and return its
    size. At most `max_concurrency` parts are in memory and in flight at once. Raises
    `changed_during_publish` if the bytes sent do not hash to `sha256`; on that or any
    failure the multipart upload is aborted, so no object appears at `key`."""
    create: dict[str, Any] = {"Bucket": bucket, "Key": key}
    checksum_member = None
    # As boto3's transfer manager does: botocore adds a CRC32 to each part by default,
    # and the upload must then name the algorithm and list each part's checksum.
    if client.meta.config.request_checksum_calculation == "when_supported":
        create["ChecksumAlgorithm"] = "CRC32"
        checksum_member = "ChecksumCRC32"
    try:
        upload_id = client.create_multipart_upload(**create)["UploadId"]
    except (ClientError, BotoCoreError) as exc:
        raise error_for("upload", key, exc) from None
    ids = {"Bucket": bucket, "Key": key, "UploadId": upload_id}

    def send(number: int, data: bytes) -> dict[str, Any]:
        extra = {"ChecksumAlgorithm": "CRC32"} if checksum_member else {}
        answer = client.upload_part(PartNumber=number, Body=data, **ids, **extra)
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if checksum_member and checksum_member in answer:
            part[checksum_member] = answer[checksum_member]
        if progress:
            progress(len(data))
        return part

    try:
        digest = hashlib.sha256()
        size = 0
        slots = threading.BoundedSemaphore(max_concurrency)
        failed = threading.Event()  # a part failed: read no more

        def finished(future: Future[dict[str, Any]]) -> None:
            if future.cancelled() or future.exception() is not None:
                failed.set()
            slots.release()

        sent: list[Future[dict[str, Any]]] = []
        with ThreadPoolExecutor(max_workers=max_concurrency) as pool:
            try:
                with Path(source).open("rb") as src:
                    while not failed.is_set():
                        slots.acquire()  # a part is read only once a worker is free
                        data = src.read(part_size)
                        if not data:
                            slots.release()
                            break
                        digest.update(data)
                        size += len(data)
                        future = pool.submit(send, len(sent) + 1, data)
                        future.add_done_callback(finished)
                        sent.append(future)
                parts = [f.result() for f in sent]
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        if digest.hexdigest() != sha256:
            raise changed_during_publish(source)
        client.complete_multipart_upload(**ids, MultipartUpload={"Parts": parts})
    except BaseException as exc:
        # Nothing was made visible; an abort that fails leaves only parts that never
        # appear at the key (a bucket rule for incomplete uploads can clear them).
        with contextlib.suppress(ClientError, BotoCoreError):
            client.abort_multipart_upload(**ids)
        if isinstance(exc, ClientError | BotoCoreError):
            raise error_for("upload", key, exc) from None
        raise
    return size
