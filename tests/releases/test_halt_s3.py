"""Done when 4: a halt against the real S3 peer (rclone serve s3). After the halt no
new link is issued, every outstanding /dl/ link is refused at once, and a presigned
URL handed out before the halt stops working once its lifetime (the tier's short
link_ttl) passes; resume restores access."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from distserver.audit.tags import EventTag
from tests.releases.support import staff
from tests.support.s3fixtures import s3_settings
from tests.support.tiers import tiers_with
from tests.support.world import DEFAULT_FILES, World, sha256

LINK_TTL = 3
WEIGHTS = {"path": "model.safetensors"}


def fetch(url: str) -> requests.Response:
    with requests.Session() as http:
        http.trust_env = False  # loopback only, never a proxy
        assert url.startswith("http://127.0.0.1:"), url
        return http.get(url, timeout=10)


def test_halt_stops_links_at_once_and_presigned_urls_within_their_lifetime(
    make_app, db_backend: str, s3_env, tmp_path: Path
) -> None:
    tiers = tiers_with(tmp_path, {"researcher": {"link_ttl": LINK_TTL}})
    app = make_app(db_backend, TIERS_DIR=str(tiers), **s3_settings(s3_env))
    with app.app_context():
        client = app.test_client()
        world = World(app, tmp_path / "sources")
        world.model("acme/halted", stage="research-access")
        alice = world.person("alice@example.org", tiers=("researcher",))
        safety = staff(world, "sam@example.org", "safety")
        url = "/api/v1/models/acme/halted/links"

        before = client.post(url, json=WEIGHTS, headers=alice.auth)
        assert before.status_code == 201, before.json
        presigned = before.json["url"]
        expires_at = datetime.fromisoformat(before.json["expires_at"])
        assert f"X-Amz-Expires={LINK_TTL}" in presigned
        first = fetch(presigned)
        assert first.status_code == 200
        assert sha256(first.content) == sha256(DEFAULT_FILES["model.safetensors"])

        halted = client.post(
            "/api/v1/models/acme/halted/halt", json={"reason": "leak"}, headers=safety.auth
        )
        assert halted.status_code == 200
        assert halted.json["halted"] is True
        refused_new = client.post(url, json=WEIGHTS, headers=alice.auth)
        assert refused_new.status_code == 403
        assert refused_new.json["error"]["code"] == "halted"
        refused_dl = client.get(f"/dl/{before.json['link_id']}", headers=alice.auth)
        assert refused_dl.status_code == 403
        assert refused_dl.json["error"]["code"] == "halted"

        # The presigned URL is S3's to enforce: it lives out its short lifetime, then dies.
        wait = (expires_at - datetime.now(UTC)).total_seconds() + 1.5
        print(f"\nwaiting {wait:.1f}s for the presigned URL (link_ttl={LINK_TTL}s) to expire")
        time.sleep(max(wait, 0))
        dead = fetch(presigned)
        # The S3 peer answers an expired presigned URL 400 AccessDenied (AWS: 403 AccessDenied).
        assert (dead.status_code, "<Code>AccessDenied</Code>" in dead.text) == (400, True)
        assert sha256(dead.content) != sha256(DEFAULT_FILES["model.safetensors"])

        resumed = client.post("/api/v1/models/acme/halted/resume", headers=safety.auth)
        assert resumed.status_code == 200
        assert resumed.json["halted"] is False
        after = client.post(url, json=WEIGHTS, headers=alice.auth)
        assert after.status_code == 201
        assert fetch(after.json["url"]).status_code == 200
        assert client.get(f"/dl/{before.json['link_id']}", headers=alice.auth).status_code == 302

        tags = [(e.tag, e.actor) for e in world.events() if e.tag.startswith("release:")]
        assert (str(EventTag.STAGE_HALTED), "sam@example.org") in tags
        assert (str(EventTag.STAGE_RESUMED), "sam@example.org") in tags
        refusals = world.events(str(EventTag.LINK_REFUSED))
        assert [e.reason for e in refusals] == ["halted", "halted"]
