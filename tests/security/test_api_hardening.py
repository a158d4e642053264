"""What an attacker tried on the native API and found broken, kept tested: filters that
tell internal model names from missing ones, bodies parsed before the caller is known
or beyond the size cap when chunked, unicode digits and deeply nested JSON that ended
in 500s. Every answer is a 4xx in the JSON error shape."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from distserver.audit.tags import EventTag
from distserver.inputs import MAX_JSON_DEPTH, json_depth, parse_int
from tests.access.support import manager
from tests.support.world import World


def _error(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.status_code, response.get_data()[:300])
    body = response.json
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code, body


# --- 6: an invisible model answers exactly like a missing one ----------------------


def test_applications_filter_does_not_leak_internal_model_names(
    client: FlaskClient, world: World
) -> None:
    world.model("acme/secret", stage="internal")
    world.model("acme/open", stage="general-availability")
    user = manager(world, "user@example.org")
    answers = {}
    for ref in ("acme/secret", "acme/missing", "acme/open"):
        response = client.get(f"/api/v1/applications?model={ref}", headers=user)
        answers[ref] = (response.status_code, response.json)
    assert answers["acme/secret"] == answers["acme/missing"] == answers["acme/open"]
    assert answers["acme/secret"][0] == 403
    # A reviewer (staff) sees internal models; for them the filter works as before.
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    for ref in ("acme/secret", "acme/missing"):
        listed = client.get(f"/api/v1/applications?model={ref}", headers=reviewer)
        assert listed.status_code == 200
        assert listed.json == {"applications": []}


def test_model_filters_answer_invisible_models_as_missing(
    client: FlaskClient, world: World
) -> None:
    """The other doors that take a model name: the same answer for internal and
    missing models, for anonymous callers and signed-in non-staff users."""
    world.model("acme/secret", stage="internal")
    user = manager(world, "user@example.org")
    for headers in ({}, user):
        for path in (
            "/api/v1/models/{ref}",
            "/api/v1/models/{ref}/gate",
            "/api/v1/models/{ref}/timeline",
            "/api/v1/models/{ref}/statistics",
            "/api/models/{ref}",
            "/api/models/{ref}/tree/main",
        ):
            secret = client.get(path.format(ref="acme/secret"), headers=headers)
            missing = client.get(path.format(ref="acme/missing"), headers=headers)
            assert secret.status_code == missing.status_code, path
            assert secret.get_data().replace(b"secret", b"missing") == missing.get_data(), path
        posted = [
            client.post(
                f"/api/v1/models/{ref}/{what}",
                json={"path": "config.json", "tier": "researcher"},
                headers=headers,
            )
            for ref in ("acme/secret", "acme/missing")
            for what in ("links", "applications", "agreement")
        ]
        statuses = [p.status_code for p in posted]
        assert statuses[:3] == statuses[3:], statuses


# --- 7: body cap for chunked bodies; authenticate before parsing ---------------------


def _chunked(client: FlaskClient, path: str, body: bytes, **kw: Any) -> Any:
    """POST `body` with Transfer-Encoding: chunked and no Content-Length, as a WSGI
    server that de-chunks (gunicorn) hands it to the app."""
    headers = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    headers.update(kw.pop("headers", {}))
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
        **kw,
    )


@pytest.mark.parametrize("size", [100 * 1024, 3 * 1024 * 1024])
def test_chunked_json_body_over_the_cap_is_refused_413(
    client: FlaskClient, world: World, size: int
) -> None:
    world.model("acme/open", plan="open", stage=None)
    body = json.dumps({"path": "config.json", "pad": "x" * size}).encode()
    _error(_chunked(client, "/api/v1/models/acme/open/links", body), 413, "too_large")
    assert world.events(EventTag.LINK_ISSUED) == []
    # A small chunked body is still read and answered.
    small = _chunked(client, "/api/v1/models/acme/open/links", b'{"path": "config.json"}')
    assert small.status_code == 201, small.json


def test_max_content_length_caps_chunked_bodies_on_every_route(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    client = app.test_client()
    # A file part: form fields have Flask's own memory cap, files only this one.
    head = (
        '--b0\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    big = head.encode() + b"x" * (2 * 1024 * 1024) + b"\r\n--b0--\r\n"
    kind = {"Content-Type": "multipart/form-data; boundary=b0"}
    assert _chunked(client, "/login", big, headers=kind).status_code == 413


def test_applications_decide_authenticates_before_parsing_the_body(
    client: FlaskClient, world: World
) -> None:
    for body in (b"not json", b"[" * 5000, b'{"ids": "x"}'):
        anonymous = client.post("/api/v1/applications/decide", data=body)
        _error(anonymous, 401, "login_required")
    reader = world.person("reader@example.org")  # its token has the read scope only
    refused = client.post("/api/v1/applications/decide", data=b"not json", headers=reader.auth)
    _error(refused, 403, "insufficient_scope")


def test_links_api_authenticates_before_parsing_the_body(client: FlaskClient, world: World) -> None:
    world.model("acme/open", plan="open", stage=None)
    person = world.person("r@example.org")
    # One character of the checksum changed (a token already ending in "x" would stay valid).
    typo = "y" if person.token.endswith("x") else "x"
    bad = {"Authorization": f"Bearer {person.token[:-1]}{typo}"}
    for body in (b"not json", b"[" * 5000):
        answer = client.post("/api/v1/models/acme/open/links", data=body, headers=bad)
        _error(answer, 401, "invalid_token")


# --- 11: unicode digits and deeply nested JSON are 400s, not 500s -------------------


NOT_INTEGERS = ["²", "٣", "\uff11", "1²", "-", "+5", " 5", "5 ", "1e3", "9" * 30]


@pytest.mark.parametrize("value", NOT_INTEGERS)
def test_unicode_digits_in_query_args_are_a_400(
    client: FlaskClient, world: World, value: str
) -> None:
    auditor = world.person("aud@example.org", roles=("auditor",))
    for path in (
        f"/api/v1/audit/checkpoints?limit={value}",  # public
        f"/api/v1/audit/checkpoints?after={value}",
        f"/api/v1/audit/events?limit={value}",
        f"/api/v1/audit/events?cursor={value}",
    ):
        _error(client.get(path, headers=auditor.auth), 400, "invalid_parameter")


def test_unicode_digits_in_route_ids_name_nothing(client: FlaskClient, world: World) -> None:
    user = manager(world, "user@example.org")
    for raw in ("²", "٣", "\uff11"):
        _error(client.get(f"/api/v1/applications/{raw}", headers=user), 404)
        _error(client.post(f"/api/v1/grants/{raw}/renew", headers=user), 404)


def test_unicode_digits_in_a_second_factor_code_are_a_wrong_code(app: Flask, world: World) -> None:
    from tests.accounts.helpers import PASSWORD, csrf, sign_in

    world.person("safety@example.org", roles=("safety",), password=PASSWORD)
    client = app.test_client()
    first = sign_in(client, "safety@example.org")
    assert first.status_code == 302
    assert "/login/code" in first.location
    answer = client.post(
        "/login/code", data={"csrf_token": csrf(client, "/login/code"), "code": "²" * 6}
    )
    assert answer.status_code == 401, answer.status_code


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000, b'{"path": ' + b"[" * 10_000],
)
def test_deeply_nested_json_is_a_400_on_the_links_api(
    client: FlaskClient, world: World, body: bytes
) -> None:
    world.model("acme/open", plan="open", stage=None)
    person = world.person("r@example.org")
    for headers in ({}, person.auth):
        answer = client.post(
            "/api/v1/models/acme/open/links",
            data=body[: 16 * 1024],
            headers={**headers, "Content-Type": "application/json"},
        )
        _error(answer, 400, "invalid_json")


def test_deeply_nested_json_is_a_400_on_every_json_body(client: FlaskClient, world: World) -> None:
    world.model("acme/llm", stage="research-access")
    admin = manager(world, "admin@example.org", roles=("admin",))
    nested = b"[" * 10_000
    for path in (
        "/api/v1/models/acme/llm/applications",
        "/api/v1/models/acme/llm/agreement",
        "/api/v1/applications/decide",
        "/api/v1/orgs",
        "/api/v1/webhooks",
        "/api/v1/models/acme/llm/evaluations",
        "/api/v1/models/acme/llm/signoffs",
    ):
        answer = client.post(
            path, data=nested, headers={**admin, "Content-Type": "application/json"}
        )
        _error(answer, 400, "invalid_json")


def test_json_nested_to_the_bound_is_still_read() -> None:
    from distserver.inputs import loads_bounded

    fine = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(fine) == MAX_JSON_DEPTH
    assert loads_bounded(fine) is not None
    assert json_depth('{"a": "[[[[[[", "b": ["\\"]["]}') == 2
    with pytest.raises(ValueError, match="deeper"):
        loads_bounded("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))


def test_strict_int_parser() -> None:
    assert [parse_int(s) for s in ("0", "42", "-7", "0012")] == [0, 42, -7, 12]
    for bad in ("", "²", "٣", "\uff11", "+1", " 1", "1 ", "1\n", "1_000", "0x10", "1.0", "9" * 20):
        assert parse_int(bad) is None, bad
