"""Links through the app against the real S3 peer (rclone serve s3), which checks
signatures and expiry itself."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.s3fixtures import s3_settings
from tests.support.tiers import tiers_with
from tests.support.world import DEFAULT_FILES, World, sha256

TTL = 3
http = requests.Session()
http.trust_env = False


@pytest.fixture
def s3_world(make_app, db_backend, s3_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    tiers = tiers_with(tmp_path, {"researcher": {"link_ttl": TTL}})
    app = make_app(db_backend, TIERS_DIR=str(tiers), **s3_settings(s3_env))
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        yield app, world, world.person("r@example.org", tiers=("researcher",))


def test_a_fresh_link_serves_the_exact_bytes_then_expires(s3_world) -> None:  # type: ignore[no-untyped-def]
    app, _, person = s3_world
    r = app.test_client().post(
        "/api/v1/models/acme/llm/links", json={"path": "model.safetensors"}, headers=person.auth
    )
    assert r.status_code == 201, r.json
    url = r.json["url"]
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == [str(TTL)]
    got = http.get(url, timeout=10)
    assert got.status_code == 200
    assert sha256(got.content) == r.json["sha256"] == sha256(DEFAULT_FILES["model.safetensors"])
    assert "model.safetensors" in got.headers.get("Content-Disposition", "")
    time.sleep(TTL + 2)
    late = http.get(url, timeout=10)
    # The S3 peer answers an expired presigned URL 400 AccessDenied (AWS: 403 AccessDenied).
    assert (late.status_code, "<Code>AccessDenied</Code>" in late.text) == (400, True), late.text


def test_changed_signature_key_or_expiry_is_refused(s3_world) -> None:  # type: ignore[no-untyped-def]
    app, _, person = s3_world
    client = app.test_client()
    url = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=person.auth
    ).json["url"]
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    sig = q["X-Amz-Signature"][0]
    other = client.post(
        "/api/v1/models/acme/llm/links", json={"path": "model.safetensors"}, headers=person.auth
    ).json["url"]
    variants = {
        "signature": url.replace(sig, sig[:-1] + ("0" if sig[-1] != "0" else "1")),
        "expiry": url.replace(f"X-Amz-Expires={TTL}", "X-Amz-Expires=604800"),
        "key": url.replace(parts.path, urlsplit(other).path),
        "credential": url.replace("X-Amz-Credential=", "X-Amz-Credential=X"),
    }
    assert http.get(url, timeout=10).status_code == 200
    for what, bad in variants.items():
        assert bad != url
        status = http.get(bad, timeout=10).status_code
        assert status == 403, (what, status)
