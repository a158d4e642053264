"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document that matches the routes of
api_v1 exactly, and schemathesis fuzzing of every operation it lists against a live
loopback server: never a 5xx, every 4xx in the JSON error shape without a stack trace,
every answer as the document says (its status, content type and body schema), and
nothing changed that the caller may not change."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from distserver.access.models import Application, Grant
from distserver.accounts.services import create_token
from distserver.api.openapi import document
from distserver.downloads.models import DownloadLink
from distserver.extensions import db
from distserver.releases.services import model_facts
from tests.hf.live import LiveServer
from tests.support.world import World

ROUTE_ARG = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Per operation and principal; both generation modes, so up to twice this many requests.
MAX_EXAMPLES = 25
# The whole fuzzing run is bounded; pytest-timeout is the hard stop.
FUZZ_BUDGET_S = 420
# Each answer is checked against the document: its status and content type, and a
# success body against its schema, so a view and the shape it declares
# (distserver/api/schemas/) cannot drift apart unnoticed. A 4xx body is checked by
# error_shape, more strictly than the Error schema would, and without a schema
# validation per answer (most answers are refusals; it would cost more than the call).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture
def live(make_app: Any, tmp_path: Path) -> Iterator[tuple[Flask, LiveServer, World]]:
    app = make_app("sqlite")
    server = LiveServer(app)
    try:
        with app.app_context():
            yield app, server, World(app, tmp_path / "sources")
    finally:
        server.stop()


def api_routes(app: Flask) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every /api/v1 route of the app."""
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = ROUTE_ARG.sub(r"{\1}", rule.rule)
            out |= {(m.lower(), path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, p) for p, item in doc["paths"].items() for m in item if m in HTTP_METHODS}


def test_the_document_is_valid_openapi_3_1(make_app: Any) -> None:
    client = make_app("sqlite").test_client()
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.is_json
    doc = answer.get_json()
    assert doc == json.loads(json.dumps(document()))
    assert doc["openapi"].startswith("3.1.")
    # Against the OpenAPI 3.1 meta-schema (schemathesis loads and checks it).
    schemathesis.openapi.from_dict(document()).validate()
    # Every JSON schema in it is a valid draft 2020-12 schema (the 3.1 dialect).
    schemas = dict(doc["components"]["schemas"])
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for p in operation.get("parameters", []):
                schemas[f"{method} {path} {p['name']}"] = p["schema"]
            for media in operation.get("requestBody", {}).get("content", {}).values():
                schemas[f"{method} {path} body"] = media["schema"]
    for where, schema in schemas.items():
        assert jsonschema_rs.meta.is_valid(schema), where
    # Every $ref resolves, every operation has a unique id and answers errors in one shape.
    text = json.dumps(doc)
    for target in set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text)):
        assert target[1] in doc["components"][target[0]], target
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message"]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token; its scopes are 'read' and 'manage'.",
    }


def test_the_document_lists_exactly_the_routes_of_the_api(make_app: Any) -> None:
    app = make_app("sqlite")
    routes, doc = api_routes(app), documented(document())
    assert routes - doc == set(), "routes missing from the OpenAPI document"
    assert doc - routes == set(), "operations in the OpenAPI document without a route"
    # Path parameters are named and declared as the routes have them.
    for path, item in document()["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)


def test_anyone_reads_the_document_even_with_a_bad_token(make_app: Any) -> None:
    client = make_app("sqlite").test_client()
    assert client.get("/api/v1/openapi.json").status_code == 200
    bad = client.get("/api/v1/openapi.json", headers={"Authorization": "Bearer nope"})
    # A bad token is refused outright everywhere (sessions.current_principal), but the
    # document needs no principal, so it is served.
    assert bad.status_code == 200


def test_malformed_webhook_urls_are_a_400_not_a_500(make_app: Any, tmp_path: Path) -> None:
    app = make_app("sqlite")
    with app.app_context():
        boss = World(app, tmp_path / "sources").person("boss@example.org", roles=("admin",))
        token = create_token(db.session, boss.user, name="m", scopes=("read", "manage")).raw
    client = app.test_client()
    for url in ("http://[", "http://[::1", "https://host:99999/", "http://h:port/"):
        answer = client.post(
            "/api/v1/webhooks",
            json={"url": url, "events": ["*"]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 400, (url, answer.get_data(as_text=True))
        assert answer.get_json()["error"]["code"] == "invalid_url"


# ---------------------------------------------------------------- fuzzing


@dataclass
class Tally:
    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    no_negative: set[str] = field(default_factory=set)


def error_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every 4xx is the JSON error of api/errors.py, and no answer holds a stack trace."""
    text = response.text or ""
    if "Traceback" in text or 'File "' in text:
        raise Failure(operation=case.operation.label, title="Stack trace", message=text[:300])
    if 400 <= response.status_code < 500:
        try:
            body = json.loads(text)
        except ValueError:
            raise Failure(
                operation=case.operation.label, title="4xx not JSON", message=text[:300]
            ) from None
        err = body.get("error") if isinstance(body, dict) else None
        if not (
            isinstance(err, dict)
            and set(err) == {"code", "message"}
            and isinstance(err["code"], str)
            and err["code"]
            and isinstance(err["message"], str)
            and err["message"]
        ):
            raise Failure(
                operation=case.operation.label, title="Wrong error shape", message=text[:300]
            )


def fuzz_operation(
    operation: Any,
    base_url: str,
    headers: dict[str, str],
    tally: Tally,
    who: str,
    deadline: float,
    path_parameters: dict[str, str] | None = None,
) -> None:
    session = requests.Session()
    session.trust_env = False  # no proxy: loopback only

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            if time.monotonic() > deadline:
                return
            label = f"{who} {case.operation.label}"
            try:
                response = case.call(base_url=base_url, session=session, headers=headers)
            except requests.ConnectionError as exc:
                tally.failures.append(f"{label}: connection failed: {exc}")
                return
            tally.cases[case.operation.label] += 1
            tally.statuses[response.status_code] += 1
            try:
                body_check = [response_schema_conformance] if response.status_code < 400 else []
                case.validate_response(response, checks=[*CHECKS, *body_check, error_shape])
            except (AssertionError, FailureGroup) as exc:
                curl = case.as_curl_command(headers=headers, base_url=base_url)
                body = response.text[:300]
                tally.failures.append(f"{label}: {response.status_code} {exc}\n  {curl}\n  {body}")

        try:
            run()
        except Unsatisfiable:
            # Nothing to break: an operation without parameters or body has no negative case.
            assert mode is GenerationMode.NEGATIVE, operation.label
            tally.no_negative.add(operation.label)


def snapshot(world: World, models: list[Any]) -> dict[str, Any]:
    db.session.expire_all()
    rt = world.rt
    facts = [model_facts(db.session, m, rt.plans) for m in models]
    return {
        "models": [(f.stage, f.halted, f.admitted_tiers) for f in facts],
        "live_grants": sorted(
            g.id for g in db.session.scalars(db.select(Grant).where(Grant.revoked_at.is_(None)))
        ),
        "decided": sorted(
            a.id
            for a in db.session.scalars(
                db.select(Application).where(Application.decided_by_id.is_not(None))
            )
        ),
        "staff_events": sorted(
            e.tag
            for e in world.events()
            if e.tag.split(":")[0] in {"release", "webhook", "organization", "grant"}
            and e.actor != "system"
        ),
    }


# Who calls: three principals on every operation, then the researcher on the seeded
# models themselves (past the 404). One test each, so the workers share the fuzzing.
CALLERS = ["researcher", "anonymous", "auditor", "acme/llm", "acme/gated"]


@pytest.mark.timeout(FUZZ_BUDGET_S + 120)
@pytest.mark.parametrize("caller", CALLERS)
def test_schemathesis_fuzzing_finds_no_server_error_nor_drift_and_changes_nothing(
    live: tuple[Flask, LiveServer, World], caller: str
) -> None:
    _app, server, world = live
    public = world.model("acme/llm", stage="general-availability")
    gated = world.model("acme/gated", stage="research-access")
    alice = world.person("alice@example.org", tiers=("researcher",))
    token = create_token(db.session, alice.user, name="fuzz", scopes=("read", "manage")).raw
    eve = world.person("eve@example.org", roles=("auditor",))
    before = snapshot(world, [public, gated])

    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    # schemathesis leaves out the operation that serves the document it loaded.
    expected = {f"{m.upper()} {p}" for m, p in documented(document())}
    assert {op.label for op in operations} == expected - {"GET /api/v1/openapi.json"}

    # Links issued the proper way before, so the invariant below has something to hold.
    researcher = {"Authorization": f"Bearer {token}"}
    for ref, who in (("acme/llm", {}), ("acme/llm", researcher), ("acme/gated", researcher)):
        issued = requests.post(
            f"{server.url}/api/v1/models/{ref}/links", json={"path": "config.json"}, headers=who
        )
        assert issued.status_code == 201, issued.text

    tally = Tally()
    deadline = time.monotonic() + FUZZ_BUDGET_S
    auditor = {"Authorization": f"Bearer {eve.token}"}
    principals = {"researcher": researcher, "anonymous": {}, "auditor": auditor}
    if caller in principals:
        fuzzed = operations
        for operation in operations:
            fuzz_operation(operation, server.url, principals[caller], tally, caller, deadline)
    else:
        namespace, name = caller.split("/")
        fuzzed = [op for op in operations if "{namespace}" in op.path]
        for operation in fuzzed:
            fixed = {"namespace": namespace, "name": name}
            fuzz_operation(operation, server.url, researcher, tally, caller, deadline, fixed)
    print(
        f"\nschemathesis as {caller}: {sum(tally.cases.values())} requests over "
        f"{len(tally.cases)} operations; statuses {dict(sorted(tally.statuses.items()))}; "
        f"no negative case for {sorted(tally.no_negative)}"
    )
    for label, count in sorted(tally.cases.items()):
        print(f"  {count:4d}  {label}")
    assert tally.failures == [], "\n".join(tally.failures[:30])
    assert set(tally.cases) == {op.label for op in fuzzed}, "an operation was not fuzzed"
    assert time.monotonic() <= deadline, "the fuzzing ran out of its time budget"

    # Nothing changed that a researcher or an anonymous caller may not change.
    assert snapshot(world, [public, gated]) == before
    links = set(db.session.scalars(db.select(DownloadLink.id)))
    issued = [e.link_id for e in world.events("download:link:issued")]
    assert len(issued) == len(set(issued)) == len(links)
    assert set(issued) == links


def test_success_answers_match_the_shapes_the_document_declares(
    make_app: Any, tmp_path: Path
) -> None:
    """The answers with the most fields, each checked against the document as the fuzz
    test does (quickly, and with the fields a fuzzer rarely reaches filled in)."""
    app = make_app("sqlite")
    with app.app_context():
        world = World(app, tmp_path / "sources")
        world.model("acme/llm", stage="general-availability")
        alice = world.person("alice@example.org", tiers=("researcher",))
        token = create_token(db.session, alice.user, name="t", scopes=("read", "manage")).raw
        eve = world.person("eve@example.org", roles=("auditor", "admin", "safety"))
        schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
        model = {"namespace": "acme", "name": "llm"}
        calls = [
            ("/api/v1/models", "GET", token, {}, None),
            ("/api/v1/models/{namespace}/{name}", "GET", token, model, None),
            ("/api/v1/models/{namespace}/{name}/links", "POST", token, model, "config.json"),
            ("/api/v1/me/access", "GET", token, {}, None),
            ("/api/v1/models/{namespace}/{name}/gate", "GET", eve.token, model, None),
            ("/api/v1/models/{namespace}/{name}/timeline", "GET", eve.token, model, None),
            ("/api/v1/models/{namespace}/{name}/statistics", "GET", eve.token, model, None),
            ("/api/v1/models/{namespace}/{name}/copies", "GET", eve.token, model, None),
            ("/api/v1/audit/events", "GET", eve.token, {}, None),
            ("/api/v1/webhooks", "GET", eve.token, {}, None),
        ]
        for path, method, bearer, parameters, file in calls:
            case = schema[path][method].Case(
                path_parameters=parameters,
                headers={"Authorization": f"Bearer {bearer}"},
                **({"body": {"path": file}, "media_type": "application/json"} if file else {}),
            )
            response = case.call()
            assert response.status_code < 300, (path, response.text[:300])
            case.validate_response(response, checks=[*CHECKS, response_schema_conformance])
