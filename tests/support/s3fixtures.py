"""The real S3 peer (rclone serve s3) for any test that needs it: a missing peer
fails the test with a sentence naming it, never a skip."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.s3peer import S3Peer, S3PeerUnavailable, start_s3_peer

FOREIGN_AWS_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


@pytest.fixture(scope="session")
def s3_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Peer]:
    try:
        peer = start_s3_peer(tmp_path_factory.mktemp("s3peer"))
    except S3PeerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    yield peer
    peer.stop()


@pytest.fixture
def s3_env(s3_peer: S3Peer, monkeypatch: pytest.MonkeyPatch) -> S3Peer:
    """The peer, with its keys in the environment for boto3's own credential chain."""
    for name in FOREIGN_AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_peer.env().items():
        monkeypatch.setenv(name, value)
    return s3_peer


def s3_settings(peer: S3Peer) -> dict[str, str]:
    return {"STORAGE": "s3", "S3_BUCKET": peer.bucket, "S3_ENDPOINT_URL": peer.endpoint_url}
