"""What publishing costs the S3 store per file: a file of at most one multipart part is
read once, hashed and PUT at its blob key (one PUT beside the HEAD that finds whether
the blob is there), without the staging upload, server-side copy and delete a larger
file needs."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

from distserver.storage.base import blob_key
from distserver.storage.s3 import MB, S3Storage


def _operations(storage: S3Storage) -> Counter[str]:
    seen: Counter[str] = Counter()

    def count(model: Any, **kwargs: Any) -> None:
        seen[model.name] += 1

    storage.client.meta.events.register("before-call.s3", count)
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
