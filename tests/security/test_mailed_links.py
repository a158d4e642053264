"""Every kind of mailed link (verify, "you already have an account", reset, and the
access notifications: new application, decision, digest, grant reminder) names the
configured EXTERNAL_URL, whatever Host and X-Forwarded-Host the request claimed;
and a production instance refuses requests for hosts it does not serve."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from distserver import create_app
from distserver.access import notifications
from distserver.access.models import Grant
from distserver.db import utcnow
from distserver.errors import ConfigError
from distserver.extensions import db
from distserver.mail import read_outbox
from tests.access.support import apply, manager
from tests.accounts.helpers import PASSWORD, csrf_from
from tests.support.production import production_env
from tests.support.world import World

BASE = "https://models.example.org"
HOSTILE = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
URL = re.compile(r"https?://[^\s<>\"']+")


def _form(client: Any, page: str, data: dict[str, str]) -> Any:
    token = csrf_from(client.get(page, headers=HOSTILE).get_data(as_text=True))
    return client.post(page, data={"csrf_token": token, **data}, headers=HOSTILE)


def test_mailed_links_name_the_configured_base_url_whatever_the_host_header(
    make_app: Any, tmp_path: Path
) -> None:
    app: Flask = make_app("sqlite", EXTERNAL_URL=BASE)
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        reviewer = manager(world, "rev@example.org", roles=("reviewer",))
        applicant = manager(world, "a@example.org")
        world.person("old@example.org", password=PASSWORD)
        client = app.test_client()
        form = {"password": PASSWORD, "confirm": PASSWORD}
        kinds: dict[str, str] = {}

        assert _form(client, "/register", {"email": "new@example.org", **form}).status_code == 302
        kinds["verify"] = read_outbox()[-1]["body"]
        assert _form(client, "/register", {"email": "old@example.org", **form}).status_code == 302
        kinds["already registered"] = read_outbox()[-1]["body"]
        assert _form(client, "/forgot", {"email": "old@example.org"}).status_code == 302
        kinds["reset"] = read_outbox()[-1]["body"]
        unverified = {"email": "new@example.org", "password": PASSWORD}
        assert _form(client, "/login", unverified).status_code == 401
        kinds["verify again"] = read_outbox()[-1]["body"]

        answer = apply(client, "acme/llm", {**applicant, **HOSTILE})
        assert answer.status_code == 201
        kinds["new application"] = read_outbox()[-1]["body"]
        decided = client.post(
            f"/api/v1/applications/{answer.json['id']}/approve",
            json={},
            headers={**reviewer, **HOSTILE},
        )
        assert decided.status_code == 200, decided.json
        kinds["decision"] = read_outbox()[-1]["body"]
        world.model("acme/other", stage="research-access")
        assert apply(client, "acme/other", {**applicant, **HOSTILE}).status_code == 201
        with app.test_request_context("/", headers=HOSTILE):
            assert notifications.send_digest(db.session) == 1
            kinds["digest"] = read_outbox()[-1]["body"]
            grant = db.session.scalar(db.select(Grant).where(Grant.revoked_at.is_(None)))
            assert grant is not None
            grant.expires_at = utcnow() + timedelta(days=2)
            db.session.commit()
            assert notifications.remind_expiring(db.session, days=7) >= 1
            kinds["grant reminder"] = read_outbox()[-1]["body"]

    for kind, body in kinds.items():
        links = URL.findall(body)
        assert links, f"the {kind} mail carries no link"
        assert all(link.startswith(BASE + "/") for link in links), (kind, links)
        assert "evil.example" not in body, kind
    print(f"\nmailed links: {len(kinds)} kinds of mail, every link under {BASE}")


def test_production_refuses_hosts_it_does_not_serve(tmp_path: Path) -> None:
    keys = production_env(tmp_path / "keys", external_url=BASE)
    settings = {k.removeprefix("DISTSERVER_"): v for k, v in keys.items()}
    app = create_app({**settings, "INSTANCE_DIR": str(tmp_path / "instance")})
    assert app.config["TRUSTED_HOSTS"] == ["models.example.org"]
    client = app.test_client()
    assert client.get("/healthz", headers={"Host": "models.example.org"}).status_code == 200
    assert client.get("/forgot", headers={"Host": "models.example.org:8443"}).status_code == 200
    for hostile in ("evil.example", "models.example.org.evil.example", "127.0.0.1"):
        for page in ("/healthz", "/forgot"):
            refused = client.get(page, headers={"Host": hostile})
            assert refused.status_code == 400, (hostile, page)


def test_production_without_external_url_refuses_to_start_with_a_sentence(
    tmp_path: Path,
) -> None:
    keys = production_env(tmp_path / "keys")
    settings = {k.removeprefix("DISTSERVER_"): v for k, v in keys.items()}
    settings.update(EXTERNAL_URL="", INSTANCE_DIR=str(tmp_path / "instance"))
    with pytest.raises(ConfigError, match="DISTSERVER_EXTERNAL_URL is not set: set it to"):
        create_app(settings)
    for bad in ("models.example.org", "ftp://models.example.org", "https://x.org/?a=1"):
        with pytest.raises(ConfigError, match="scheme and host only"):
            create_app({**settings, "EXTERNAL_URL": bad})
