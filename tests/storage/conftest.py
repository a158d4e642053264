"""Fixtures for the storage contract. Every test that takes `storage` runs against both
backends: the local one in a temp directory, the S3 one against the real S3 peer
(`rclone serve s3` on loopback), which checks signatures and expiry itself. The
session's one peer and its environment (`s3_peer`, `s3_env`) come from
tests/support/s3fixtures.py, which tests/conftest.py registers for every test."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests

from distserver.storage import LinkRefused, Storage
from distserver.storage.local import LocalStorage
from distserver.storage.s3 import S3Storage
from tests.support.s3peer import S3Peer

BASE_URL = "http://127.0.0.1:5000/"
Fetched = tuple[int, bytes, dict[str, str]]

_http = requests.Session()
_http.trust_env = False  # no proxy from the environment between us and loopback


def make_s3_storage(peer: S3Peer, **overrides: Any) -> S3Storage:
    # 5 MB parts (the S3 minimum) so a 12 MB test file makes a 3-part parallel upload.
    options: dict[str, Any] = {
        "bucket": peer.bucket,
        "endpoint_url": peer.endpoint_url,
        "chunk_mb": 5,
        "max_concurrency": 4,
    }
    return S3Storage(**(options | overrides))


@pytest.fixture
def s3_storage(s3_env: S3Peer) -> S3Storage:
    return make_s3_storage(s3_env)


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "blobs", secret_key=secrets.token_urlsafe(48))


@pytest.fixture(params=["local", "s3"], ids=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    # getfixturevalue: a run of only the local cases never starts rclone.
    if request.param == "local":
        return request.getfixturevalue("local_storage")
    return request.getfixturevalue("s3_storage")


def fetch(storage: Storage, url: str) -> Fetched:
    """GET a signed URL as a client would: local /files/ URLs are served the way the
    route will (resolve_token, then the file); S3 URLs by a real HTTP GET to the peer."""
    if isinstance(storage, LocalStorage):
        assert url.startswith(BASE_URL.rstrip("/") + "/files/"), url
        token = url.split("/files/", 1)[1]
        try:
            obj = storage.resolve_token(token)
        except LinkRefused as exc:
            return exc.status, exc.message.encode(), {}
        headers = {"Content-Disposition": obj.content_disposition, "Content-Length": str(obj.size)}
        return 200, obj.path.read_bytes(), headers
    assert urlsplit(url).hostname == "127.0.0.1", f"not a loopback URL: {url}"
    response = _http.get(url, timeout=30)
    return response.status_code, response.content, dict(response.headers)


def stored_keys(storage: Storage) -> list[str]:
    """Every object key in the store, including any staging or temporary leftovers."""
    if isinstance(storage, LocalStorage):
        return sorted(
            p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*") if p.is_file()
        )
    assert isinstance(storage, S3Storage)
    keys: list[str] = []
    for page in storage.client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


HEX = "0123456789abcdef"
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def _same_kind(ch: str) -> str:
    """Characters of the same kind as `ch`, so an edit stays well-formed and only its
    meaning changes."""
    for pool in ("0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"):
        if ch in pool:
            return pool
    return "abcdefghijklmnopqrstuvwxyz0123456789-_"


def _mutations(
    text: str,
    count: int,
    rng: random.Random,
    pool: Callable[[str], str] = _same_kind,
    skip: str = "",
) -> list[str]:
    """`count` distinct one-character edits of `text`, spread over all its positions."""
    candidates = [
        (i, c) for i, ch in enumerate(text) if ch not in skip for c in pool(ch) if c != ch
    ]
    return [text[:i] + c + text[i + 1 :] for i, c in rng.sample(candidates, count)]


# 200 in all; X-Amz-Expires="300" has only 27 one-digit edits.
S3_SPREAD = {
    "path": 45,
    "X-Amz-Signature": 45,
    "X-Amz-Credential": 45,
    "X-Amz-Date": 40,
    "X-Amz-Expires": 25,
}


def _s3_mutations(url: str, rng: random.Random) -> list[tuple[str, str]]:
    parts = urlsplit(url)
    base, items = f"{parts.scheme}://{parts.netloc}", parts.query.split("&")
    out = [
        ("path", f"{base}{path}?{parts.query}")
        for path in _mutations(parts.path, S3_SPREAD["path"], rng, skip="/")
    ]
    for name, count in S3_SPREAD.items():
        if name == "path":
            continue
        (index,) = [i for i, item in enumerate(items) if item.startswith(name + "=")]
        value = unquote(items[index].split("=", 1)[1])
        pool = (lambda ch: HEX) if name == "X-Amz-Signature" else _same_kind
        for changed in _mutations(value, count, rng, pool=pool):
            query = [*items[:index], f"{name}={quote(changed, safe='')}", *items[index + 1 :]]
            out.append((name, f"{base}{parts.path}?{'&'.join(query)}"))
    return out


def _local_mutations(url: str, rng: random.Random) -> list[tuple[str, str]]:
    prefix, token = url.split("/files/", 1)
    return [
        ("token", f"{prefix}/files/{changed}")
        for changed in _mutations(token, 200, rng, pool=lambda ch: TOKEN_CHARS)
    ]


def link_mutations(storage: Storage, url: str, rng: random.Random) -> list[tuple[str, str]]:
    """200 distinct one-character edits of a signed URL, as (part edited, URL)."""
    if isinstance(storage, S3Storage):
        return _s3_mutations(url, rng)
    return _local_mutations(url, rng)
