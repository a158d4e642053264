"""The direct SigV4 presigner gives byte-for-byte botocore's presigned URL for the same
inputs and clock, and the S3 peer serves what it signs and refuses what is altered or
expired (the storage contract suite runs the rest of the S3 backend through it)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from itertools import product
from unittest import mock

import boto3
import pytest
import requests
from botocore.config import Config

from distserver.storage import content_disposition
from distserver.storage.s3 import S3Storage
from distserver.storage.sigv4 import Credentials, QueryPresigner
from tests.support.s3peer import S3Peer

KEYS = [
    "blobs/sha256/ab/abcdef",
    "copies/7/with space.safetensors",
    "copies/7/plus+sign & amp=eq",
    "copies/7/quotes'\"`",
    "copies/7/ünïcödé/模型.bin",
    "copies/7/tilde~star*paren()percent%25hash#question?",
    "a//double/slash/",
]
FILENAMES = ["model.safetensors", "my file.bin", "a+b.bin", 'it\'s "quoted".bin', "模型 ü.bin"]
CLOCKS = [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)]
ENDPOINTS = [
    ("http://127.0.0.1:9000", "us-east-1"),
    ("https://s3.eu-west-1.amazonaws.com", "eu-west-1"),
    ("http://localhost:80", "us-east-1"),
]
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _boto_client(endpoint: str, region: str, token: str | None):  # type: ignore[no-untyped-def]
    return boto3.session.Session(
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=SECRET, aws_session_token=token
    ).client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE+/token=="], ids=["keys", "session"])
def test_direct_presigning_equals_botocore_byte_for_byte(token: str | None) -> None:
    checked = 0
    # One client per endpoint: making a boto3 client loads the service model (~0.1 s).
    clients = {(e, r): _boto_client(e, r, token) for e, r in ENDPOINTS}
    for (endpoint, region), key, name, clock in product(ENDPOINTS, KEYS, FILENAMES, CLOCKS):
        client = clients[endpoint, region]
        disposition = content_disposition(name)
        with mock.patch("botocore.auth.get_current_datetime", return_value=clock):
            expected = client.generate_presigned_url(
                "get_object",
                Params={"Bucket": "bkt", "Key": key, "ResponseContentDisposition": disposition},
                ExpiresIn=300,
            )
        signer = QueryPresigner(
            client.meta.endpoint_url,
            region,
            "bkt",
            lambda: Credentials("AKIDEXAMPLE", SECRET, token),
        )
        got = signer.url(
            key, expires=300, params={"response-content-disposition": disposition}, now=clock
        )
        assert got == expected, (endpoint, key, name)
        checked += 1
    assert checked == len(ENDPOINTS) * len(KEYS) * len(FILENAMES) * len(CLOCKS)


def test_the_storage_backend_signs_like_botocore(s3_env: S3Peer) -> None:
    storage = S3Storage(s3_env.bucket, endpoint_url=s3_env.endpoint_url)
    clock = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
    key = "copies/1/with space+plus'quote ü.bin"
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=clock),
        mock.patch("distserver.storage.sigv4.datetime") as fake,
    ):
        fake.now.return_value = clock
        ours = storage.signed_url(key, ttl=60, filename="w ü+'x'.bin", base_url="")
        theirs = storage.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": s3_env.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition("w ü+'x'.bin"),
            },
            ExpiresIn=60,
        )
    assert ours == theirs


def test_the_peer_serves_odd_keys_and_refuses_tampered_or_expired_urls(s3_env: S3Peer) -> None:
    http = requests.Session()
    http.trust_env = False
    storage = S3Storage(s3_env.bucket, endpoint_url=s3_env.endpoint_url)
    for key in ("copies/9/with space+plus'quote ü.bin", "copies/9/a&b=c~d.bin"):
        storage.store_stream(key, [key.encode()])
        url = storage.signed_url(key, ttl=2, filename="f ü+.bin", base_url="")
        got = http.get(url, timeout=10)
        assert got.status_code == 200, (key, got.status_code)
        assert got.content == key.encode(), (key, got.status_code)
        tampered = url.replace("X-Amz-Expires=2", "X-Amz-Expires=3")
        assert http.get(tampered, timeout=10).status_code == 403  # SignatureDoesNotMatch
        time.sleep(3.5)
        # The S3 peer answers an expired presigned URL 400 AccessDenied (AWS: 403 AccessDenied).
        expired = http.get(url, timeout=10)
        assert (expired.status_code, "<Code>AccessDenied</Code>" in expired.text) == (400, True)
