"""A presigned URL carries its link id in the response header it asks S3 for, and the
real S3 peer (rclone serve s3) serves it signed that way; the URL, as S3's access log
records it, matches its link."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from distserver.alerts.fetches import link_id_of
from tests.support.s3fixtures import s3_settings
from tests.support.world import World

http = requests.Session()
http.trust_env = False


@pytest.mark.s3
def test_the_s3_peer_serves_a_url_naming_its_link(
    make_app: Any, s3_env: Any, tmp_path: Path
) -> None:
    app = make_app("sqlite", **s3_settings(s3_env))
    with app.app_context():
        world = World(app, tmp_path / "src")
        model = world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",), model=model)
        issued = app.test_client().post(
            "/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=person.auth
        )
        assert issued.status_code == 201, issued.json
    parts = urlsplit(issued.json["url"])
    assert link_id_of(f"GET {parts.path}?{parts.query} HTTP/1.1") == issued.json["link_id"]
    got = http.get(issued.json["url"], timeout=30)
    assert got.status_code == 200  # the signature covers the extra parameter
    assert got.content == b'{"hidden_size": 8}\n'
    link_id = issued.json["link_id"]
    assert got.headers["Cache-Control"] == f"private, no-store, x-link-id={link_id}"
