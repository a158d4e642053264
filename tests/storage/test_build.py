"""build_storage: the settings pick the backend, and a wrong name stops start-up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distserver.config import load_settings
from distserver.errors import ConfigError
from distserver.storage import Storage, build_storage
from distserver.storage.local import LocalStorage
from distserver.storage.s3 import MB, S3Storage

SECRET = "s" * 48


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # Building an S3 client must not depend on (or read) the developer's AWS files.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


def test_local_from_the_default_settings(tmp_path: Path) -> None:
    settings = load_settings(
        {"ENV": "testing", "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": SECRET}, environ={}
    )
    storage = build_storage(settings)
    assert isinstance(storage, LocalStorage)
    assert isinstance(storage, Storage)
    assert storage.backend == "local"
    assert storage.root == (tmp_path / "blobs").resolve()
    assert storage.accel_redirect_path("blobs/x") is None


def test_local_with_an_accel_redirect_prefix(tmp_path: Path) -> None:
    storage = build_storage(
        {
            "STORAGE": "local",
            "INSTANCE_DIR": str(tmp_path),
            "SECRET_KEY": SECRET,
            "LOCAL_ACCEL_REDIRECT_PREFIX": "/_blobs",
        }
    )
    assert isinstance(storage, LocalStorage)
    assert storage.accel_redirect_path("blobs/x") == "/_blobs/blobs/x"


def test_s3_with_an_empty_endpoint_uses_aws(tmp_path: Path) -> None:
    storage = build_storage(
        {
            "STORAGE": "s3",
            "S3_BUCKET": "weights",
            "S3_ENDPOINT_URL": "",
            "S3_REGION": "eu-west-1",
            "S3_MULTIPART_CHUNK_MB": 32,
            "S3_MAX_CONCURRENCY": 4,
        }
    )
    assert isinstance(storage, S3Storage)
    assert isinstance(storage, Storage)
    assert (storage.backend, storage.bucket, storage.endpoint_url) == ("s3", "weights", None)
    assert storage.client.meta.region_name == "eu-west-1"
    assert "amazonaws.com" in storage.client.meta.endpoint_url
    assert storage.upload_config.multipart_chunksize == 32 * MB
    assert storage.upload_config.max_concurrency == 4


def test_s3_with_an_endpoint() -> None:
    storage = build_storage(
        {"STORAGE": "s3", "S3_BUCKET": "weights", "S3_ENDPOINT_URL": "http://127.0.0.1:9000"}
    )
    assert isinstance(storage, S3Storage)
    assert storage.client.meta.endpoint_url == "http://127.0.0.1:9000"


@pytest.mark.parametrize("name", ["s4", "Local", "", "disk"])
def test_an_unknown_backend_stops_start_up_with_a_sentence(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        build_storage({"STORAGE": name, "INSTANCE_DIR": str(tmp_path), "SECRET_KEY": SECRET})
    message = str(exc.value)
    assert f"DISTSERVER_STORAGE={name!r} is not a storage backend" in message
    assert "'local' or 's3'" in message


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"S3_BUCKET": ""}, "DISTSERVER_S3_BUCKET"),
        ({"S3_BUCKET": "b", "S3_MULTIPART_CHUNK_MB": 1}, "chunk size must be 5..5120 MB"),
        ({"S3_BUCKET": "b", "S3_MAX_CONCURRENCY": 0}, "max_concurrency"),
    ],
)
def test_unusable_s3_settings_stop_start_up(settings: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        build_storage({"STORAGE": "s3", **settings})
