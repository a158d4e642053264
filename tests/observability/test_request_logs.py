"""Structured request logs: one JSON line per request (request id, route, method, status,
duration, user id), the request id in the X-Request-ID response header and in the audit
event's data, and no credential in any line the app writes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask

from distserver.audit.tags import EventTag
from distserver.observability.logs import redact
from tests.accounts.helpers import PASSWORD, sign_in
from tests.support.world import World

ASK = {"json": {"path": "config.json"}}


def request_lines(err: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "distserver.request"]


def test_one_json_line_per_request_with_id_route_status_duration_and_user(
    make_app: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app("sqlite")
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/open", plan="open", stage=None)
        person = world.person("r@example.org")
        user_id = person.user.id
    client = app.test_client()
    capsys.readouterr()
    signed = client.post("/api/v1/models/acme/open/links", headers=person.auth, **ASK)
    anonymous = client.get("/api/v1/models/acme/open")
    lines = request_lines(capsys.readouterr().err)
    assert len(lines) == 2
    first, second = lines
    assert first["request_id"] == signed.headers["X-Request-ID"]
    assert first["route"] == "/api/v1/models/<namespace>/<name>/links"
    assert (first["method"], first["status"], first["user_id"]) == ("POST", 201, user_id)
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] > 0
    assert second["request_id"] == anonymous.headers["X-Request-ID"] != first["request_id"]
    assert "user_id" not in second
    assert second["status"] == 200


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-2026-12-01T10:00:00.abc", True),
        ("0123456789abcdef0123456789abcdef", True),
        ("short", False),
        ("has space in it", False),
        ("x" * 65, False),
        ("bad\"quote'0000", False),
        ("", False),
    ],
)
def test_incoming_request_id_is_kept_only_when_well_formed(
    make_app: Any, sent: str, kept: bool
) -> None:
    client = make_app("sqlite").test_client()
    answered = client.get("/healthz", headers={"X-Request-ID": sent}).headers["X-Request-ID"]
    if kept:
        assert answered == sent
    else:
        assert answered != sent
        assert len(answered) == 32
        assert answered.isalnum()


def test_audit_events_carry_the_request_id(app: Flask, world: World) -> None:
    world.model("acme/open", plan="open", stage=None)
    client = app.test_client()
    issued = client.post(
        "/api/v1/models/acme/open/links", headers={"X-Request-ID": "lb-trace-00001"}, **ASK
    )
    refused = client.post("/api/v1/models/acme/open/links", json={"path": "missing.bin"})
    [issue] = world.events(EventTag.LINK_ISSUED)
    [refusal] = world.events(EventTag.LINK_REFUSED)
    assert issued.headers["X-Request-ID"] == "lb-trace-00001"
    assert json.loads(issue.data)["request_id"] == "lb-trace-00001"
    assert json.loads(refusal.data)["request_id"] == refused.headers["X-Request-ID"]
    # Outside a request (seeding, the CLI) there is no request id.
    [published] = world.events("catalog:revision:published")
    assert "request_id" not in json.loads(published.data)


def test_no_credential_reaches_the_app_log(
    make_app: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app("sqlite")
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/open", plan="open", stage=None)
        person = world.person("r@example.org", password=PASSWORD)
    client = app.test_client()
    capsys.readouterr()
    link = client.post("/api/v1/models/acme/open/links", headers=person.auth, **ASK).json
    assert client.get(link["url"]).status_code == 200  # the /files/<token> link itself
    client.get(link["url"].replace("/files/", "/files/x"))  # a tampered one: refused
    client.get(f"/dl/{link['link_id']}", headers=person.auth)
    assert sign_in(client, "r@example.org").status_code == 302
    client.get("/access")
    sign_in(app.test_client(), "r@example.org", "wrong password!")
    client.get("/api/v1/models", headers={"Authorization": "Bearer dst_notarealtoken0000"})
    written = capsys.readouterr().err
    assert len(request_lines(written)) >= 7
    file_token = link["url"].split("/files/")[1].split("?")[0]
    cookie = client.get_cookie("session")
    secrets = [person.token, PASSWORD, "wrong password!", file_token, link["link_id"]]
    secrets += ["dst_notarealtoken0000", "?"]
    if cookie is not None:
        secrets.append(cookie.value)
    for secret in secrets:
        assert secret not in written, f"{secret!r} reached the log"
    # Only the URL rule, or a message's path after redaction.
    assert set(re.findall(r"/files/[^\s\"]*", written)) <= {"/files/<token>", "/files/[redacted]"}


def test_redaction_of_messages_that_carry_credentials() -> None:
    text = (
        "GET /files/eyJhbGciOi.abc?exp=1 then https://s3/b/k?X-Amz-Credential=AK%2F1"
        "&X-Amz-Signature=deadbeef with dst_AbCdEfGh0123456789 and session=abc.def"
    )
    clean = redact(text)
    for secret in ("eyJhbGciOi", "AK%2F1", "deadbeef", "dst_AbCdEfGh", "abc.def"):
        assert secret not in clean
    assert "/files/[redacted]" in clean
    assert "X-Amz-Signature=[redacted]" in clean


def test_an_operators_own_handler_gets_the_request_record_with_its_fields(
    make_app: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    client = make_app("sqlite").test_client()
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    logger = logging.getLogger("distserver.request")
    handler = Keep()
    logger.addHandler(handler)
    try:
        answered = client.get("/healthz")
    finally:
        logger.removeHandler(handler)
    [record] = seen
    assert record.getMessage().startswith("GET /healthz 200 ")
    assert (record.request_id, record.route, record.status) == (  # type: ignore[attr-defined]
        answered.headers["X-Request-ID"],
        "/healthz",
        200,
    )
    # The record also reaches the JSON handler above it, as one line.
    assert len(request_lines(capsys.readouterr().err)) == 1
