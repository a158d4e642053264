"""The storage contract (distserver/storage/base.py), held against every backend.
Link security is checked against the real thing: the S3 peer verifies SigV4 itself."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from distserver.storage import (
    MAX_LINK_TTL,
    InvalidKey,
    LinkRefused,
    Storage,
    StorageError,
    blob_key,
)
from distserver.storage.local import LocalStorage
from distserver.storage.s3 import S3Storage
from tests.support.s3peer import S3Peer

from .conftest import BASE_URL, fetch, link_mutations, make_s3_storage, stored_keys

MB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def stored(storage: Storage, tmp_path: Path, data: bytes) -> str:
    return storage.store_file(write(tmp_path / "blob.bin", data)).key


def test_backends_satisfy_the_protocol(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    storage.check()


def test_store_file_hashes_once_and_is_idempotent(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(12 * MB + 321)  # several multipart parts on S3
    seen: list[int] = []
    first = storage.store_file(write(tmp_path / "a.bin", data), progress=seen.append)
    assert (first.key, first.sha256, first.size) == (blob_key(sha(data)), sha(data), len(data))
    assert not first.already_present
    assert sum(seen) == len(data)

    second = storage.store_file(write(tmp_path / "copy-of-a.bin", data))
    assert second.already_present
    assert (second.key, second.sha256, second.size) == (first.key, first.sha256, first.size)
    with storage.open(first.key) as fh:
        assert sha(fh.read()) == sha(data)
    keys = stored_keys(storage)
    assert [k for k in keys if sha(data) in k] == [first.key], "identical bytes stored once"
    assert not [k for k in keys if k.startswith("uploads/") or ".distserver-tmp" in k]


def test_store_file_of_an_empty_file(storage: Storage, tmp_path: Path) -> None:
    blob = storage.store_file(write(tmp_path / "empty", b""))
    assert (blob.sha256, blob.size) == (sha(b""), 0)
    assert storage.size(blob.key) == 0
    status, body, _ = fetch(
        storage, storage.signed_url(blob.key, ttl=60, filename="e", base_url=BASE_URL)
    )
    assert (status, body) == (200, b"")


def test_store_stream_of_many_chunks(storage: Storage) -> None:
    rng = random.Random(7)
    parts = [rng.randbytes(rng.choice([0, 1, 17, 4096, 65_536, 300_000])) for _ in range(400)]
    key = "copies/user-42/model.safetensors"
    blob = storage.store_stream(key, (p for p in parts))  # a generator: never a list
    data = b"".join(parts)
    assert (blob.key, blob.sha256, blob.size) == (key, sha(data), len(data))
    assert storage.size(key) == len(data)
    with storage.open(key) as fh:
        assert sha(fh.read()) == sha(data)

    replaced = storage.store_stream(key, [b"short"])  # replaces what was there
    assert (replaced.size, storage.size(key)) == (5, 5)
    assert storage.store_stream("copies/empty", iter(())).size == 0


def test_exists_size_open_iter_range_delete(storage: Storage) -> None:
    data = os.urandom(3 * MB + 123)
    key = "copies/user-7/weights.bin"
    assert not storage.exists(key)
    storage.store_stream(key, [data])
    assert storage.exists(key)
    assert storage.size(key) == len(data)
    with storage.open(key) as fh:
        assert fh.read() == data

    n = len(data)
    for start, end in [(0, 0), (10, 20), (0, n - 1), (MB - 1, 2 * MB + 5), (n - 5, n + 100)]:
        assert b"".join(storage.iter_range(key, start, end)) == data[start : end + 1]
    assert b"".join(storage.iter_range(key, n, n + 10)) == b""
    for start, end in [(-1, 3), (5, 4)]:
        with pytest.raises(ValueError, match="invalid byte range"):
            storage.iter_range(key, start, end)

    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # already gone: no error
    with pytest.raises(StorageError):
        storage.size(key)
    with pytest.raises(StorageError):
        storage.open(key)
    with pytest.raises(StorageError):
        storage.iter_range(key, 0, 10)


@pytest.mark.parametrize(
    ("filename", "disposition"),
    [
        (
            "acme/llm-7b/model-00001-of-00002.safetensors",
            'attachment; filename="model-00001-of-00002.safetensors"',
        ),
        ('we"ird\r\nname.bin', 'attachment; filename="weirdname.bin"'),
        ("modèle.bin", "attachment; filename=\"modele.bin\"; filename*=UTF-8''mod%C3%A8le.bin"),
    ],
    ids=["path", "quotes-and-crlf", "non-ascii"],
)
def test_signed_url_serves_the_exact_bytes(
    storage: Storage, tmp_path: Path, filename: str, disposition: str
) -> None:
    data = os.urandom(2 * MB + 77)
    key = stored(storage, tmp_path, data)
    url = storage.signed_url(key, ttl=300, filename=filename, base_url=BASE_URL)
    status, body, headers = fetch(storage, url)
    assert status == 200
    assert sha(body) == sha(data)
    assert headers["Content-Disposition"] == disposition


@pytest.mark.parametrize("ttl", [0, -1, MAX_LINK_TTL + 1, 1.5, "60", None])
def test_link_lifetime_outside_one_second_to_seven_days_is_refused(
    storage: Storage, ttl: object
) -> None:
    with pytest.raises(ValueError, match="link lifetime must be"):
        storage.signed_url("blobs/x", ttl=ttl, filename="x", base_url=BASE_URL)  # type: ignore[arg-type]
    assert storage.signed_url("blobs/x", ttl=MAX_LINK_TTL, filename="x", base_url=BASE_URL)


# How each backend refuses an expired link: the local backend's link_invalid (403); the S3
# peer's AccessDenied, which it answers with 400 (AWS answers it with 403).
EXPIRED_STATUS = {"local": 403, "s3": 400}


def test_link_is_refused_after_its_lifetime(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(1000)
    ttl = 2
    url = storage.signed_url(
        stored(storage, tmp_path, data), ttl=ttl, filename="f", base_url=BASE_URL
    )
    status, body, _ = fetch(storage, url)
    assert (status, sha(body)) == (200, sha(data))
    time.sleep(ttl + 2)  # SigV4 dates have whole seconds: pass a boundary beyond expiry
    status, body, _ = fetch(storage, url)
    assert status == EXPIRED_STATUS[storage.backend], (status, body[:200])
    assert sha(body) != sha(data)


# How each backend refuses a mutated link: the local backend always with link_invalid (403);
# the S3 peer with 403 for a well-formed link whose signature does not match, and 400 for a
# malformed X-Amz-Date, X-Amz-Credential or X-Amz-Expires (which a random one-character
# mutation of those parameters may or may not produce).
MUTATION_STATUSES = {"local": {403}, "s3": {400, 403}}


def test_every_one_character_mutation_of_a_link_is_refused(
    storage: Storage, tmp_path: Path
) -> None:
    data = os.urandom(4096)
    url = storage.signed_url(
        stored(storage, tmp_path, data), ttl=300, filename="w.bin", base_url=BASE_URL
    )
    mutations = link_mutations(storage, url, random.Random(20240601))
    assert len(mutations) == 200
    assert len({u for _, u in mutations}) == 200
    assert url not in {u for _, u in mutations}

    accepted, statuses = [], Counter()
    for part, mutated in mutations:
        status, body, _ = fetch(storage, mutated)
        statuses[(part, status)] += 1
        if status not in MUTATION_STATUSES[storage.backend] or sha(body) == sha(data):
            accepted.append((part, mutated, status))
    refused = len(mutations) - len(accepted)
    print(f"\n[{storage.backend}] mutations tried: {len(mutations)}, refused: {refused}")
    print(f"[{storage.backend}] by part and status: {dict(sorted(statuses.items()))}")
    assert not accepted, accepted[:5]
    status, body, _ = fetch(storage, url)  # the genuine link still works
    assert (status, sha(body)) == (200, sha(data))


@pytest.mark.parametrize("ttl", [1, 300, 3600, MAX_LINK_TTL])
def test_s3_link_carries_the_lifetime_asked_for(s3_storage: S3Storage, ttl: int) -> None:
    url = s3_storage.signed_url(blob_key("ab" * 32), ttl=ttl, filename="f", base_url=BASE_URL)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(ttl)]


def test_s3_check_passes_for_the_live_peer(s3_storage: S3Storage) -> None:
    s3_storage.check()


def test_s3_check_fails_with_a_sentence_when_nobody_listens(s3_env: S3Peer) -> None:
    dead = S3Storage(s3_env.bucket, endpoint_url="http://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"http://127\.0\.0\.1:1 could not be reached") as exc:
        dead.check()
    assert time.monotonic() - started < 15
    assert s3_env.secret_key not in str(exc.value)


def test_s3_errors_are_sentences_without_secrets(
    s3_env: S3Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StorageError, match=r"NoSuchBucket|HTTP 404"):
        make_s3_storage(s3_env, bucket="no-such-bucket").check()
    wrong_secret = "wrong-" + s3_env.secret_key
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    refused = make_s3_storage(s3_env)
    for attempt in (refused.check, lambda: refused.store_stream("copies/x", [b"x"])):
        with pytest.raises(StorageError, match=r"HTTP 403") as exc:
            attempt()
        assert wrong_secret not in str(exc.value)
        assert s3_env.access_key not in str(exc.value)


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "a/../../etc/passwd",
        "a/..",
        "/etc/passwd",
        "a\x00b",
        "a//b",
        "./a",
        "a\\b",
        "",
        ".distserver-tmp-1",
    ],
)
def test_local_rejects_keys_that_could_escape_its_root(
    local_storage: LocalStorage, key: str
) -> None:
    for attempt in (
        lambda: local_storage.store_stream(key, [b"x"]),
        lambda: local_storage.exists(key),
        lambda: local_storage.delete(key),
        lambda: local_storage.signed_url(key, ttl=60, filename="x", base_url=BASE_URL),
    ):
        with pytest.raises(InvalidKey):
            attempt()
    assert not (local_storage.root.parent / "escape").exists()


def test_local_tokens_expire_are_bound_to_the_secret_and_to_the_file(
    local_storage: LocalStorage, tmp_path: Path
) -> None:
    key = stored(local_storage, tmp_path, b"weights")
    token = local_storage.signed_url(key, ttl=60, filename="w", base_url=BASE_URL).split("/files/")[
        1
    ]
    obj = local_storage.resolve_token(token)
    assert (obj.key, obj.filename, obj.size, obj.path.read_bytes()) == (key, "w", 7, b"weights")
    assert 59 <= obj.expires_at - time.time() <= 60
    assert local_storage.resolve_token(token, now=obj.expires_at - 1).key == key
    with pytest.raises(LinkRefused, match="expired"):
        local_storage.resolve_token(token, now=obj.expires_at)
    for forged in (token[:-3] + "é" + token[-3:], token[:-3] + "!" + token[-3:], token + "="):
        with pytest.raises(LinkRefused):  # base64 would skip such characters
            local_storage.resolve_token(forged)
    other = LocalStorage(local_storage.root, secret_key="another-secret-" + "x" * 40)
    with pytest.raises(LinkRefused):
        other.resolve_token(token)
    local_storage.delete(key)
    with pytest.raises(LinkRefused, match="gone"):
        local_storage.resolve_token(token)


def test_local_accel_redirect_path(tmp_path: Path) -> None:
    plain = LocalStorage(tmp_path / "a", secret_key="k" * 48)
    assert plain.accel_redirect_path(blob_key("ab" * 32)) is None
    behind_nginx = LocalStorage(tmp_path / "b", secret_key="k" * 48, accel_prefix="/_blobs/")
    assert behind_nginx.accel_redirect_path(blob_key("ab" * 32)) == "/_blobs/" + blob_key("ab" * 32)
    with pytest.raises(InvalidKey):
        behind_nginx.accel_redirect_path("../secret_key")
