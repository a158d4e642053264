"""What publishing costs the S3 store per file: a file of at most one multipart part is
read once, hashed and PUT at its blob key (one PUT beside the HEAD that finds whether
the blob is there); a larger file is hashed first and then uploaded in parts straight
to its blob key, with no staging key and no server-side copy. A file that changes
between the hash pass and the upload leaves nothing stored."""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from distserver.storage.base import StorageError, blob_key
from distserver.storage.s3 import MB, S3Storage
from tests.storage.conftest import stored_keys


def _operations(storage: S3Storage) -> Counter[str]:
    seen: Counter[str] = Counter()

    def count(model: Any, **kwargs: Any) -> None:
        seen[model.name] += 1

    # Requests and uploads go through two clients (uploads retry more): count both.
    for client in {id(c): c for c in (storage.client, storage.upload_client)}.values():
        client.meta.events.register("before-call.s3", count)
    return seen


def test_a_file_of_one_part_is_put_at_its_blob_key_without_a_staging_copy(
    s3_storage: S3Storage, tmp_path: Path
) -> None:
    data = os.urandom(3 * MB)
    source = tmp_path / "small.bin"
    source.write_bytes(data)
    seen = _operations(s3_storage)
    reported: list[int] = []
    stored = s3_storage.store_file(source, progress=reported.append)
    sha = hashlib.sha256(data).hexdigest()
    assert (stored.key, stored.sha256, stored.size) == (blob_key(sha), sha, len(data))
    assert not stored.already_present
    assert sum(reported) == len(data)
    assert seen == Counter({"HeadObject": 1, "PutObject": 1}), seen
    with s3_storage.open(stored.key) as body:
        assert body.read() == data
    seen.clear()
    again = s3_storage.store_file(source)
    assert again.already_present
    assert seen == Counter({"HeadObject": 1}), seen


def test_a_multipart_file_is_uploaded_straight_to_its_blob_key_without_a_copy(
    s3_storage: S3Storage, tmp_path: Path
) -> None:
    data = os.urandom(12 * MB)  # three 5 MB parts (the fixture's part size)
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    before = stored_keys(s3_storage)
    seen = _operations(s3_storage)
    reported: list[int] = []
    stored = s3_storage.store_file(source, progress=reported.append)
    sha = hashlib.sha256(data).hexdigest()
    assert (stored.key, stored.sha256, stored.size) == (blob_key(sha), sha, len(data))
    assert not stored.already_present
    assert sum(reported) == len(data)
    assert seen == Counter(
        {"HeadObject": 1, "CreateMultipartUpload": 1, "UploadPart": 3, "CompleteMultipartUpload": 1}
    ), seen
    assert stored_keys(s3_storage) == sorted([*before, stored.key])
    with s3_storage.open(stored.key) as body:
        assert body.read() == data
    seen.clear()
    reported.clear()
    again = s3_storage.store_file(source, progress=reported.append)
    assert again.already_present
    assert sum(reported) == len(data)
    assert seen == Counter({"HeadObject": 1}), seen


def test_a_file_changed_between_hash_and_upload_leaves_no_object_and_says_publish_again(
    s3_storage: S3Storage, tmp_path: Path
) -> None:
    data = os.urandom(12 * MB)
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    changed = bytearray(data)
    changed[7 * MB] ^= 0xFF  # a byte in the second part, written once the upload starts

    def change_the_file(**kwargs: object) -> None:
        source.write_bytes(changed)

    before = stored_keys(s3_storage)
    seen = _operations(s3_storage)
    s3_storage.upload_client.meta.events.register(
        "before-call.s3.CreateMultipartUpload", change_the_file
    )
    with pytest.raises(StorageError) as caught:
        s3_storage.store_file(source)
    message = caught.value.message
    assert "\n" not in message
    assert re.search(r"changed during publish.*publish again", message), message
    assert seen["AbortMultipartUpload"] == 1, seen
    assert seen["CompleteMultipartUpload"] == 0, seen
    for content in (data, bytes(changed)):
        assert not s3_storage.exists(blob_key(hashlib.sha256(content).hexdigest()))
    assert stored_keys(s3_storage) == before


def test_uploads_retry_a_dropped_connection_more_often_than_requests_do() -> None:
    """A publish is a long batch job: its parts get more attempts than the calls a request
    waits on (which fail fast into a 503)."""
    storage = S3Storage("bucket", endpoint_url="http://127.0.0.1:9", region="us-east-1")
    # botocore counts the first attempt too: max_attempts retries make max_attempts + 1.
    assert storage.client.meta.config.retries["total_max_attempts"] == 3
    assert storage.upload_client.meta.config.retries["total_max_attempts"] == 6
