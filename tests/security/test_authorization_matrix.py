# ruff: noqa: E501, RUF002  (the table reads best one route a line)
"""The authorization matrix: every route and method × every principal × every stage of
the default plan (and a halted model) → the expected status, generated from one table.
A route missing from the table fails the test."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distserver.extensions import db
from tests.security.matrix_seed import MODELS, PRINCIPALS, UNPROVED, Seeded, seed
from tests.support.world import World

OK = "ok"  # allowed through the access checks: the row's own answer (Row.ok)
STAFF = {"reviewer", "safety", "auditor", "admin"}
ADMITS = {
    "internal": set(),
    "partner-preview": {"vetted_partner"},
    "research-access": {"vetted_partner", "researcher"},
    "general-availability": {"vetted_partner", "researcher", "public"},
}
GRANTS = {"researcher": {"researcher"}, "partner": {"vetted_partner"}}
BAD_TOKENS = {"expired_token": 401, "revoked_token": 401, "suspended": 403}

Expect = int | str


def visible(p: str, ref: str) -> bool:
    return bool(ADMITS[MODELS[ref][0]]) or p in STAFF


def download(p: str, ref: str) -> Expect:
    stage, halted = MODELS[ref]
    if not visible(p, ref):
        return 404
    if halted:
        return 403
    if p in {"safety", "admin"} or "public" in ADMITS[stage]:
        return OK
    if p == "anonymous":
        return 401
    return OK if GRANTS.get(p, set()) & ADMITS[stage] else 403


def gated(p: str, ref: str) -> Expect:
    # The Hugging Face door answers the Hub's way: GatedRepo is 401 without a token.
    want = download(p, ref)
    return 401 if want == 403 and p == "anonymous" else want


def roles(*allowed: str, model: bool = False, missing: int = 403) -> Callable[[str, str], Expect]:
    def rule(p: str, ref: str) -> Expect:
        if p == "anonymous":
            return 401
        if model and not visible(p, ref):
            return 404
        return OK if p in allowed else missing

    return rule


def meta(p: str, ref: str) -> Expect:
    return OK if visible(p, ref) else 404


def anyone(p: str, ref: str) -> Expect:
    return OK


def signed_in(p: str, ref: str) -> Expect:
    return 401 if p == "anonymous" else OK


def signed_in_visible(p: str, ref: str) -> Expect:
    return 401 if p == "anonymous" else meta(p, ref)


def owner(who: str, *staff: str, anonymous: int = 401) -> Callable[[str, str], Expect]:
    def rule(p: str, ref: str) -> Expect:
        if p == "anonymous":
            return anonymous
        return OK if p == who or p in staff else 404

    return rule


def alert_decider(p: str, ref: str) -> Expect:
    # No alert 999999: those who may decide alerts learn that; the others are refused first.
    if p == "anonymous":
        return 401
    return 404 if p in ("admin", "safety") else 403


def nothing_found(p: str, ref: str) -> Expect:
    return 401 if p == "anonymous" else 404


def admin_finds_nothing(p: str, ref: str) -> Expect:
    # Admin-only actions on an object the seed does not hold: others are refused first.
    if p == "anonymous":
        return 401
    return 404 if p == "admin" else 403


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # {m} is the model; {link}, {application}, {grant}, {user} are seeded ids
    rule: Callable[[str, str], Expect]
    body: dict[str, Any] | None = None
    per_model: bool = False
    token_free: bool = False  # answers without reading the Authorization header
    # The action needs a proved second factor: a principal whose token was minted
    # without one is refused (403) where its role alone would be let through.
    factor: bool = False
    # The one answer for a caller the access checks let through (by model where the
    # model's state decides it, e.g. halting a halted model is a conflict).
    ok: int | Callable[[str], int] = 200


# What the release actions answer a caller let through, by the model's state: the seed's
# models have no evidence recorded, so no gate is met and a promotion is always a conflict.
def evaluated(ref: str) -> int:
    # The next gate of an internal model asks for red-team; later gates do not (400);
    # a model at the last stage has no next gate (409).
    stage = MODELS[ref][0]
    return {"internal": 201, "general-availability": 409}.get(stage, 400)


def signed_off(ref: str) -> int:
    return 409 if MODELS[ref][0] == "general-availability" else 201  # no next stage


def demoted(ref: str) -> int:
    return 409 if MODELS[ref][0] == "internal" else 200  # no previous stage


def halted(ref: str) -> int:
    return 409 if MODELS[ref][1] else 200


def resumed(ref: str) -> int:
    return 200 if MODELS[ref][1] else 409


M = "/api/v1/models/{m}"
TABLE: dict[str, list[Row]] = {
    "ops.healthz": [Row("GET", "/healthz", anyone, token_free=True)],
    "ops.readyz": [Row("GET", "/readyz", anyone, token_free=True)],
    "ops.metrics": [Row("GET", "/metrics", anyone, token_free=True)],
    "api_v1.models_index": [Row("GET", "/api/v1/models", anyone)],
    "api_v1.model_detail": [Row("GET", M, meta, per_model=True)],
    "api_v1.create_link": [Row("POST", M + "/links", download, {"path": "config.json"}, True, ok=201)],
    "api_v1.release_gate": [Row("GET", M + "/gate", roles("safety", "admin", "auditor", model=True), per_model=True)],
    "api_v1.release_timeline": [Row("GET", M + "/timeline", roles("safety", "admin", "auditor", model=True), per_model=True)],
    "api_v1.model_statistics_view": [Row("GET", M + "/statistics", roles("safety", "admin", "auditor", model=True), per_model=True)],
    "api_v1.model_copies": [Row("GET", M + "/copies", roles("safety", "admin", "auditor", model=True), per_model=True)],
    "api_v1.release_evaluate": [Row("POST", M + "/evaluations", roles("safety", model=True), {"name": "red-team", "result": "pass", "report": "r"}, True, factor=True, ok=evaluated)],
    "api_v1.release_signoff": [Row("POST", M + "/signoffs", roles("safety", model=True), {}, True, factor=True, ok=signed_off)],
    "api_v1.release_promote": [Row("POST", M + "/promote", roles("safety", "admin", model=True), {}, True, factor=True, ok=409)],
    "api_v1.release_demote": [Row("POST", M + "/demote", roles("safety", "admin", model=True), {}, True, factor=True, ok=demoted)],
    "api_v1.release_halt": [Row("POST", M + "/halt", roles("safety", "admin", model=True), {"reason": "matrix"}, True, factor=True, ok=halted)],
    "api_v1.release_resume": [Row("POST", M + "/resume", roles("safety", "admin", model=True), {}, True, factor=True, ok=resumed)],
    "api_v1.apply": [Row("POST", M + "/applications", signed_in_visible, {"tier": "researcher", "answers": {}}, True, ok=400)],
    "api_v1.accept": [Row("POST", M + "/agreement", signed_in_visible, {"tier": "researcher"}, True, ok=409)],
    "hf.model_info_view": [Row("GET", "/api/models/{m}", meta, per_model=True), Row("GET", "/api/models/{m}/revision/main", meta, per_model=True)],
    "hf.tree_view": [Row("GET", "/api/models/{m}/tree/main", gated, per_model=True), Row("GET", "/api/models/{m}/tree/main/sub", gated, per_model=True)],
    "hf.resolve_view": [Row("GET", "/{m}/resolve/main/config.json", gated, per_model=True, ok=302)],
    "hf.whoami_view": [Row("GET", "/api/whoami-v2", signed_in)],
    "hf.list_models_view": [Row("GET", "/api/models", anyone), Row("GET", "/api/models?search=llm&sort=downloads", anyone)],
    "hf.refs_view": [Row("GET", "/api/models/{m}/refs", meta, per_model=True)],
    "hf.commits_view": [Row("GET", "/api/models/{m}/commits/main", meta, per_model=True)],
    "hf.paths_info_view": [Row("POST", "/api/models/{m}/paths-info/main", gated, {}, True)],
    "hf.auth_check_view": [Row("GET", "/api/models/{m}/auth-check", gated, per_model=True)],
    "hf.auth_check_write_view": [Row("GET", "/api/models/{m}/auth-check/write", lambda p, ref: 403 if visible(p, ref) else 404, per_model=True)],
    "api_v1.audit_events": [Row("GET", "/api/v1/audit/events", roles("auditor", "admin"))],
    "api_v1.audit_checkpoints": [Row("GET", "/api/v1/audit/checkpoints", anyone, token_free=True)],
    "api_v1.list_alerts": [Row("GET", "/api/v1/alerts", roles("admin", "safety", "auditor"))],
    "api_v1.ack_alert": [Row("POST", "/api/v1/alerts/999999/ack", alert_decider, {"note": "n"})],
    "api_v1.dismiss_alert": [Row("POST", "/api/v1/alerts/999999/dismiss", alert_decider, {})],
    "api_v1.download_receipt": [Row("GET", "/api/v1/receipts/{link}", owner("researcher"))],
    "downloads.follow_link": [Row("GET", "/dl/{link}", owner("researcher", anonymous=404), ok=302)],
    "downloads.serve_file": [Row("GET", "/files/not-a-token", lambda p, r: 403, token_free=True)],
    "api_v1.application_queue": [Row("GET", "/api/v1/applications?status=pending", roles("reviewer", "admin"))],
    "api_v1.application_detail": [Row("GET", "/api/v1/applications/{application}", owner("public_user", "reviewer", "admin"))],
    "api_v1.approve": [Row("POST", "/api/v1/applications/{application}/approve", roles("reviewer", "admin"), {}, factor=True)],
    "api_v1.reject": [Row("POST", "/api/v1/applications/{application}/reject", roles("reviewer", "admin"), {"reason": "matrix"}, factor=True)],
    "api_v1.decide_many": [Row("POST", "/api/v1/applications/decide", roles("reviewer", "admin"), {"ids": ["{application}"], "decision": "reject", "reason": "m"}, factor=True)],
    "api_v1.withdraw": [Row("POST", "/api/v1/applications/{application}/withdraw", owner("public_user"), {})],
    "api_v1.my_access": [Row("GET", "/api/v1/me/access", signed_in)],
    "api_v1.renew": [Row("POST", "/api/v1/grants/{grant}/renew", owner("researcher"), {}, ok=400)],
    "api_v1.revoke": [Row("POST", "/api/v1/grants/{grant}/revoke", owner("nobody", "reviewer", "admin"), {}), Row("DELETE", "/api/v1/grants/{grant}", owner("nobody", "reviewer", "admin"))],
    "api_v1.create_org": [Row("POST", "/api/v1/orgs", roles("admin"), {"slug": "lab", "name": "Lab"}, ok=201)],
    "api_v1.show_org": [Row("GET", "/api/v1/orgs/no-such-org", nothing_found)],
    "api_v1.add_member": [Row("POST", "/api/v1/orgs/no-such-org/members", nothing_found, {"email": "public@x.org"})],
    "api_v1.remove_member": [Row("DELETE", "/api/v1/orgs/no-such-org/members/{user}", nothing_found)],
    "api_v1.sign_org_agreement": [Row("POST", "/api/v1/orgs/no-such-org/agreement", nothing_found, {})],
    "api_v1.access_report": [Row("GET", "/api/v1/reports/access?format=json", roles("reviewer", "admin", "auditor"))],
    "api_v1.create_webhook": [Row("POST", "/api/v1/webhooks", roles("admin"), {"url": "http://127.0.0.1:9/h", "events": ["*"]}, ok=201)],
    "api_v1.list_webhooks": [Row("GET", "/api/v1/webhooks", roles("admin"))],
    "api_v1.rotate_webhook_secret": [Row("POST", "/api/v1/webhooks/1/rotate-secret", admin_finds_nothing, {})],
    "api_v1.redeliver_webhook": [Row("POST", "/api/v1/webhooks/1/deliveries/1/redeliver", admin_finds_nothing, {})],
    "api_v1.change_member_role": [Row("PATCH", "/api/v1/orgs/no-such-org/members/{user}", nothing_found, {"role": "manager"})],
    "api_v1.openapi_document": [Row("GET", "/api/v1/openapi.json", anyone, token_free=True)],
}  # fmt: skip


def status(code: int) -> Callable[[str, str], Expect]:
    return lambda p, ref: code


# Web pages answer a browser session, never a Bearer token: to them every principal
# here is anonymous (pages that show the caller's own standing read the token, and
# refuse a bad one). Every POST without the form's CSRF token is refused with 400.
SIGN_IN = 302  # pages for signed-in people send others to the sign-in page
CSRF = 400
PAGES: dict[str, list[Row]] = {
    "web.home": [Row("GET", "/", status(200), token_free=True)],
    "accounts.login": [Row("GET", "/login", status(200), token_free=True), Row("POST", "/login", status(CSRF), {}, token_free=True)],
    "accounts.register": [Row("GET", "/register", status(200), token_free=True), Row("POST", "/register", status(CSRF), {}, token_free=True)],
    "accounts.forgot": [Row("GET", "/forgot", status(200), token_free=True), Row("POST", "/forgot", status(CSRF), {}, token_free=True)],
    "accounts.reset": [Row("GET", "/reset/not-a-token", status(SIGN_IN), token_free=True), Row("POST", "/reset/not-a-token", status(CSRF), {}, token_free=True)],
    "accounts.verify": [Row("GET", "/verify/not-a-token", status(SIGN_IN), token_free=True)],
    "accounts.login_code": [Row("GET", "/login/code", status(SIGN_IN), token_free=True), Row("POST", "/login/code", status(CSRF), {}, token_free=True)],
    "accounts.logout": [Row("POST", "/logout", status(CSRF), {}, token_free=True)],
    "accounts.account": [Row("GET", "/account", status(SIGN_IN), token_free=True)],
    "accounts.enrol": [Row("GET", "/account/2fa", status(SIGN_IN), token_free=True), Row("POST", "/account/2fa", status(CSRF), {}, token_free=True)],
    "accounts.enrol_confirm": [Row("POST", "/account/2fa/confirm", status(CSRF), {}, token_free=True)],
    "accounts.change_password": [Row("GET", "/account/password", status(SIGN_IN), token_free=True), Row("POST", "/account/password", status(CSRF), {}, token_free=True)],
    "accounts.token_create": [Row("POST", "/account/tokens", status(CSRF), {}, token_free=True)],
    "accounts.token_revoke": [Row("POST", "/account/tokens/1/revoke", status(CSRF), {}, token_free=True)],
    "accounts.admin_users": [Row("GET", "/admin/users", status(SIGN_IN), token_free=True)],
    "accounts.admin_role": [Row("POST", "/admin/users/{user}/role", status(CSRF), {}, token_free=True)],
    "accounts.admin_suspend": [Row("POST", "/admin/users/{user}/suspend", status(CSRF), {}, token_free=True)],
    "accounts.admin_suspend_confirm": [Row("GET", "/admin/users/{user}/suspend", status(SIGN_IN), token_free=True)],
    "accounts.sso_login": [Row("GET", "/sso/nosuch/login", status(404), token_free=True)],
    "accounts.sso_callback": [Row("GET", "/sso/nosuch/callback", status(404), token_free=True)],
    "accounts.sso_link": [Row("GET", "/sso/link", status(SIGN_IN), token_free=True), Row("POST", "/sso/link", status(CSRF), {}, token_free=True)],
    "web.catalog_page": [Row("GET", "/models", status(200))],
    "web.model_page": [Row("GET", "/models/{m}", meta, per_model=True)],
    "web.download": [Row("POST", "/models/{m}/download", status(CSRF), {}, True, token_free=True)],
    "web.agreement": [Row("GET", "/models/{m}/agreement", status(SIGN_IN), per_model=True, token_free=True), Row("POST", "/models/{m}/agreement", status(CSRF), {}, True, token_free=True)],
    "web.apply": [Row("GET", "/models/{m}/apply", status(SIGN_IN), per_model=True, token_free=True), Row("POST", "/models/{m}/apply", status(CSRF), {}, True, token_free=True)],
    "web.my_access": [Row("GET", "/access", status(SIGN_IN), token_free=True)],
    "web.withdraw": [Row("POST", "/access/applications/{application}/withdraw", status(CSRF), {}, token_free=True)],
    "web.renew": [Row("POST", "/access/grants/{grant}/renew", status(CSRF), {}, token_free=True)],
    "web.review": [Row("GET", "/review", status(SIGN_IN), token_free=True)],
    "web.review_decide": [Row("POST", "/review/{application}", status(CSRF), {}, token_free=True)],
    "staff.index": [Row("GET", "/staff/", status(SIGN_IN), token_free=True)],
    "staff.audit": [Row("GET", "/staff/audit", status(SIGN_IN), token_free=True)],
    "staff.audit_export": [Row("GET", "/staff/audit/export?format=csv", status(SIGN_IN), token_free=True)],
    "staff.audit_model": [Row("GET", "/staff/audit/models/{m}", status(SIGN_IN), per_model=True, token_free=True)],
    "staff.audit_user": [Row("GET", "/staff/audit/users/researcher@x.org", status(SIGN_IN), token_free=True)],
    "staff.alerts_page": [Row("GET", "/staff/alerts", status(SIGN_IN), token_free=True)],
    "staff.alerts_decide": [Row("POST", "/staff/alerts/1", status(CSRF), {}, token_free=True)],
    "staff.release_console": [Row("GET", "/staff/models/{m}/release", status(SIGN_IN), per_model=True, token_free=True)],
    "staff.new_model": [Row("GET", "/staff/models/new", status(SIGN_IN), token_free=True), Row("POST", "/staff/models/new", status(CSRF), {}, token_free=True)],
    "staff.model_admin": [Row("GET", "/staff/models/{m}", status(SIGN_IN), per_model=True, token_free=True)],
    "staff.edit_card": [Row("GET", "/staff/models/{m}/card", status(SIGN_IN), per_model=True, token_free=True), Row("POST", "/staff/models/{m}/card", status(CSRF), {}, True, token_free=True)],
    "staff.model_grants_page": [Row("GET", "/staff/models/{m}/grants", status(SIGN_IN), per_model=True, token_free=True)],
    "staff.add_grant": [Row("POST", "/staff/models/{m}/grants", status(CSRF), {}, True, token_free=True)],
    "staff.extend": [Row("POST", "/staff/models/{m}/grants/{grant}/extend", status(CSRF), {}, True, token_free=True)],
    "staff.revoke": [Row("GET", "/staff/models/{m}/grants/{grant}/revoke", status(SIGN_IN), per_model=True, token_free=True), Row("POST", "/staff/models/{m}/grants/{grant}/revoke", status(CSRF), {}, True, token_free=True)],
    "staff.orgs_index": [Row("GET", "/staff/orgs", status(SIGN_IN), token_free=True)],
    "staff.org_create": [Row("POST", "/staff/orgs", status(CSRF), {}, token_free=True)],
    "staff.org_page": [Row("GET", "/staff/orgs/lab", status(SIGN_IN), token_free=True)],
    "staff.org_add_member": [Row("POST", "/staff/orgs/lab/members", status(CSRF), {}, token_free=True)],
    "staff.org_member_role": [Row("POST", "/staff/orgs/lab/members/{user}/role", status(CSRF), {}, token_free=True)],
    "staff.org_remove_confirm": [Row("GET", "/staff/orgs/lab/members/{user}/remove", status(SIGN_IN), token_free=True)],
    "staff.org_remove_member": [Row("POST", "/staff/orgs/lab/members/{user}/remove", status(CSRF), {}, token_free=True)],
    "staff.org_sign": [Row("POST", "/staff/orgs/lab/agreement", status(CSRF), {}, token_free=True)],
    "staff.webhooks_index": [Row("GET", "/staff/webhooks", status(SIGN_IN), token_free=True)],
    "staff.webhook_create": [Row("POST", "/staff/webhooks", status(CSRF), {}, token_free=True)],
    "staff.webhook_page": [Row("GET", "/staff/webhooks/1", status(SIGN_IN), token_free=True)],
    "staff.webhook_rotate_confirm": [Row("GET", "/staff/webhooks/1/rotate", status(SIGN_IN), token_free=True)],
    "staff.webhook_rotate": [Row("POST", "/staff/webhooks/1/rotate", status(CSRF), {}, token_free=True)],
    "staff.webhook_redeliver": [Row("POST", "/staff/webhooks/1/deliveries/1/redeliver", status(CSRF), {}, token_free=True)],
    **{
        f"staff.{action}": [Row("POST", f"/staff/models/{{m}}/release/{path}", status(CSRF), {}, True, token_free=True)]
        for action, path in (
            ("evaluate", "evaluations"),
            ("signoff", "signoffs"),
            ("promote", "promote"),
            ("demote", "demote"),
            ("halt", "halt"),
            ("resume", "resume"),
        )
    },
}  # fmt: skip
TABLE.update(PAGES)


def expected(row: Row, p: str, ref: str) -> int:
    want = _access(row, p, ref)
    if want == OK:
        return row.ok(ref) if callable(row.ok) else row.ok
    assert isinstance(want, int)
    return want


def _access(row: Row, p: str, ref: str) -> Expect:
    if p in BAD_TOKENS and not row.token_free:
        return BAD_TOKENS[p]
    if p in UNPROVED and not row.token_free:
        want = row.rule(UNPROVED[p], ref)
        return 403 if row.factor and want == OK else want
    return row.rule(p, ref)


def test_authorization_matrix(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = make_app("sqlite", ANONYMOUS_RATE_LIMIT="1000000 per minute")
    database = Path(app.config["DATABASE_URL"].removeprefix("sqlite:///"))
    with app.app_context():
        seeded: Seeded = seed(World(app, tmp_path / "src"))
        endpoints = {r.endpoint for r in app.url_map.iter_rules()} - {"static", "web.static"}
        covered = set(TABLE)
        missing = sorted(endpoints - covered)
        snapshot = tmp_path / "snapshot.sqlite3"
        db.session.remove()
        db.engine.dispose()
        shutil.copyfile(database, snapshot)
        client = app.test_client()
        tried, mismatches = 0, []
        for endpoint, rows in TABLE.items():
            if endpoint not in endpoints:
                continue
            for row in rows:
                for ref in MODELS if row.per_model else ["acme/research"]:
                    for p in PRINCIPALS:
                        if row.method != "GET":
                            db.session.remove()
                            db.engine.dispose()
                            shutil.copyfile(snapshot, database)
                        path = row.path.format(m=ref, **{k: v for k, v in _ids(seeded).items()})
                        body = _fill(row.body, seeded)
                        response = client.open(
                            path, method=row.method, json=body, headers=seeded.headers[p]
                        )
                        want = expected(row, p, ref)
                        tried += 1
                        if response.status_code != want:
                            mismatches.append(
                                (endpoint, row.method, path, p, want, response.status_code)
                            )
    print(f"\nauthorization matrix: {tried} cases tried, {len(mismatches)} mismatches")
    for m in mismatches[:60]:
        print("  ", m)
    assert not missing, f"routes missing from the authorization table: {missing}"
    assert mismatches == []


def _ids(seeded: Seeded) -> dict[str, Any]:
    return {
        "link": seeded.ids["link"],
        "application": seeded.ids["application"],
        "grant": seeded.ids["grant"],
        "user": seeded.ids["researcher_user"],
    }


def _fill(body: dict[str, Any] | None, seeded: Seeded) -> dict[str, Any] | None:
    if body is None:
        return None
    return {
        k: [seeded.ids["application"] if x == "{application}" else x for x in v]
        if isinstance(v, list)
        else v
        for k, v in body.items()
    }
