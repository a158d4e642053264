"""S3_PUBLIC_ENDPOINT_URL: presigned links name the S3 endpoint clients can reach, while
the server keeps talking to its own (S3_ENDPOINT_URL), as behind a compose network where
the app reaches `http://s3:9000` and clients reach `https://s3.example.org`. Checked
against the real S3 peer, which verifies the signature (and so the signed host)."""

from __future__ import annotations

import pytest
import requests

from distserver.errors import ConfigError
from distserver.storage import build_storage
from tests.support.s3peer import S3Peer

_http = requests.Session()
_http.trust_env = False


def _settings(peer: S3Peer, **extra: str) -> dict[str, str]:
    return {
        "STORAGE": "s3",
        "S3_BUCKET": peer.bucket,
        "S3_ENDPOINT_URL": peer.endpoint_url,
        "INSTANCE_DIR": "unused",
        "SECRET_KEY": "unused",
        **extra,
    }


def test_links_name_the_public_endpoint_and_its_signature_holds_there(s3_env: S3Peer) -> None:
    # The same server under another name: what clients see differs from what the app uses.
    public = s3_env.endpoint_url.replace("127.0.0.1", "localhost")
    storage = build_storage(_settings(s3_env, S3_PUBLIC_ENDPOINT_URL=public))
    blob = storage.store_stream("public/endpoint.bin", iter([b"weights" * 100]))
    url = storage.signed_url(blob.key, ttl=60, filename="endpoint.bin", base_url="unused")
    assert url.startswith(f"{public}/{s3_env.bucket}/"), url
    assert "127.0.0.1" not in url
    fetched = _http.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == b"weights" * 100
    # Signed for the public host: the same query sent to the internal name is refused.
    internal = url.replace(public, s3_env.endpoint_url)
    assert _http.get(internal, timeout=10).status_code == 403


def test_the_server_itself_never_uses_the_public_endpoint(s3_env: S3Peer) -> None:
    # A public endpoint the server cannot reach: uploads, reads and checks still work.
    storage = build_storage(_settings(s3_env, S3_PUBLIC_ENDPOINT_URL="https://s3.invalid"))
    blob = storage.store_stream("public/internal.bin", iter([b"x" * 10]))
    assert storage.exists(blob.key)
    assert storage.size(blob.key) == 10
    storage.check()
    url = storage.signed_url(blob.key, ttl=60, filename="internal.bin", base_url="unused")
    assert url.startswith(f"https://s3.invalid/{s3_env.bucket}/")


def test_without_a_public_endpoint_links_name_the_servers_own(s3_env: S3Peer) -> None:
    storage = build_storage(_settings(s3_env))
    blob = storage.store_stream("public/own.bin", iter([b"y"]))
    url = storage.signed_url(blob.key, ttl=60, filename="own.bin", base_url="unused")
    assert url.startswith(f"{s3_env.endpoint_url}/{s3_env.bucket}/")


@pytest.mark.parametrize("bad", ["s3.example.org", "ftp://s3.example.org", "https://"])
def test_a_public_endpoint_that_is_not_an_http_url_is_refused(s3_env: S3Peer, bad: str) -> None:
    with pytest.raises(ConfigError, match="DISTSERVER_S3_PUBLIC_ENDPOINT_URL"):
        build_storage(_settings(s3_env, S3_PUBLIC_ENDPOINT_URL=bad))
