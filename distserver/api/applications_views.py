"""Early access in /api/v1: applications and their review, agreements, "my access",
grants (renew, revoke), partner organisations, webhooks and the access report.
Writes need a session (CSRF applies) or a token with the "manage" scope; reads
"read". Objects the caller may not see answer 404, exactly as missing ones."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, jsonify, request

from distserver import guards
from distserver.access import applications as apps
from distserver.access import organizations as orgs
from distserver.access import reports, webhooks
from distserver.access.services import accept_agreement, require_tier, revoke_grant
from distserver.accounts.models import User
from distserver.accounts.services import get_user
from distserver.api import api_v1
from distserver.api.links_views import json_body, string_field
from distserver.app_runtime import current_runtime
from distserver.errors import BadRequest, Forbidden, NotFound
from distserver.extensions import db
from distserver.identity import Principal, require_role

# Ids are INTEGER keys (32-bit on PostgreSQL); a larger one names nothing, and passed
# to the database it overflows (an error, not an answer) on SQLite and PostgreSQL.
MAX_ID = 2**31 - 1


@api_v1.url_value_preprocessor
def _ids_in_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    for key, value in (values or {}).items():
        if type(value) is int and value > MAX_ID:
            raise NotFound(f"No {key.removesuffix('_id')} {value}.", code="not_found")


def signed_in_user(*, write: bool) -> tuple[Principal, User]:
    principal = guards.active_principal("manage" if write else "read")
    user = db.session.get(User, principal.user_id)
    assert user is not None
    return principal, user


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    return string_field(data, key, required=False)


def _app_json(application: Any, *, history: bool = False) -> dict[str, Any]:
    return reports.application_dict(db.session, application, with_history=history)


@api_v1.post("/models/<namespace>/<name>/applications")
def apply(namespace: str, name: str) -> tuple[Response, int]:
    principal, user = signed_in_user(write=True)
    data = json_body()
    model = guards.visible_model(namespace, name, principal)
    rt = current_runtime()
    plan = rt.plans.get(model.plan)
    plan_tiers = frozenset(t for s in plan.stages for t in s.tiers) if plan else frozenset()
    application = apps.submit(
        db.session,
        rt.tiers,
        user,
        model,
        string_field(data, "tier", required=True) or "",
        data.get("answers"),
        actor=principal,
        agreement_sha256=_optional_str(data, "agreement_sha256"),
        model_agreement_sha256=_optional_str(data, "model_agreement_sha256"),
        plan_tiers=plan_tiers,
    )
    return jsonify(_app_json(application)), 201


@api_v1.get("/applications")
def application_queue() -> Response:
    principal = guards.principal("read")
    # The role first: the answer to someone who may not read the queue must not
    # depend on its filters, or it tells which model names exist.
    require_role(principal, apps.REVIEWERS, "review applications")
    args = request.args
    model = None
    if args.get("model"):
        namespace, _, name = args["model"].partition("/")
        try:
            model = guards.visible_model(namespace, name, principal)
        except NotFound:
            return jsonify({"applications": []})  # invisible answers as missing
    status = args.get("status", "pending") or None
    rows = apps.queue(db.session, principal, status=status, tier=args.get("tier"), model=model)
    return jsonify({"applications": [_app_json(a, history=True) for a in rows]})


@api_v1.get("/applications/<int:app_id>")
def application_detail(app_id: int) -> Response:
    principal, _ = signed_in_user(write=False)
    application = apps.get_application(db.session, app_id, principal)
    reviewer = bool(principal.roles & apps.REVIEWERS)
    return jsonify(_app_json(application, history=reviewer))


def _decide(ids: list[int], decision: str, data: dict[str, Any] | None = None) -> Response:
    principal, _ = signed_in_user(write=True)
    data = json_body() if data is None else data
    rows = apps.decide(
        db.session, current_runtime().tiers, ids, decision, _optional_str(data, "reason"), principal
    )
    return jsonify({"applications": [_app_json(a) for a in rows]})


@api_v1.post("/applications/<int:app_id>/approve")
def approve(app_id: int) -> Response:
    return _decide([app_id], "approve")


@api_v1.post("/applications/<int:app_id>/reject")
def reject(app_id: int) -> Response:
    return _decide([app_id], "reject")


@api_v1.post("/applications/decide")
def decide_many() -> Response:
    signed_in_user(write=True)  # authenticate before parsing the body
    data = json_body()
    ids = data.get("ids")
    if not isinstance(ids, list) or not all(type(i) is int and 0 < i <= MAX_ID for i in ids):
        raise BadRequest("'ids' must be a list of application ids.", code="invalid_ids")
    decision = data.get("decision")
    if not isinstance(decision, str):
        raise BadRequest("'decision' is 'approve' or 'reject'.", code="invalid_decision")
    return _decide(ids, decision, data)


@api_v1.post("/applications/<int:app_id>/withdraw")
def withdraw(app_id: int) -> Response:
    principal, _ = signed_in_user(write=True)
    return jsonify(_app_json(apps.withdraw(db.session, app_id, principal)))


@api_v1.post("/models/<namespace>/<name>/agreement")
def accept(namespace: str, name: str) -> tuple[Response, int]:
    principal, user = signed_in_user(write=True)
    data = json_body()
    model = guards.visible_model(namespace, name, principal)
    tier = require_tier(current_runtime().tiers, string_field(data, "tier", required=True) or "")
    if not tier.agreements_for(model.ref):
        raise BadRequest(f"The {tier.name} tier has no agreement to accept.", code="no_agreement")
    apps.check_agreements(
        tier,
        model.ref,
        _optional_str(data, "agreement_sha256"),
        _optional_str(data, "model_agreement_sha256"),
    )
    accept_agreement(db.session, user, tier, principal, model_ref=model.ref)
    accepted = [
        {"agreement": a.name, "version": a.version, "sha256": a.sha256}
        for a in tier.agreements_for(model.ref)
    ]
    return jsonify({"tier": tier.name, "model": model.ref, "accepted": accepted}), 201


@api_v1.get("/me/access")
def my_access() -> Response:
    _, user = signed_in_user(write=False)
    return jsonify(reports.my_access(db.session, user.id, current_runtime().tiers))


@api_v1.post("/grants/<int:grant_id>/renew")
def renew(grant_id: int) -> tuple[Response, int]:
    principal, _ = signed_in_user(write=True)
    data = json_body() if request.content_length else {}
    application = apps.renew(
        db.session,
        current_runtime().tiers,
        grant_id,
        principal,
        answers=data.get("answers"),
        agreement_sha256=_optional_str(data, "agreement_sha256"),
        model_agreement_sha256=_optional_str(data, "model_agreement_sha256"),
    )
    return jsonify(_app_json(application)), 201


@api_v1.post("/grants/<int:grant_id>/revoke")
@api_v1.delete("/grants/<int:grant_id>")
def revoke(grant_id: int) -> Response:
    principal, _ = signed_in_user(write=True)
    if not principal.roles & apps.REVIEWERS:
        raise NotFound(f"No live grant {grant_id}.", code="grant_not_found")
    grant = revoke_grant(db.session, grant_id, principal)
    return jsonify({"id": grant.id, "revoked_at": reports.iso(grant.revoked_at)})


@api_v1.post("/orgs")
def create_org() -> tuple[Response, int]:
    principal, _ = signed_in_user(write=True)
    data = json_body()
    tier = require_tier(current_runtime().tiers, _optional_str(data, "tier") or "vetted_partner")
    org = orgs.create_org(
        db.session,
        string_field(data, "slug", required=True) or "",
        string_field(data, "name", required=True) or "",
        tier,
        principal,
    )
    return jsonify(org_json(org)), 201


@api_v1.get("/orgs/<slug>")
def show_org(slug: str) -> Response:
    principal, _ = signed_in_user(write=False)
    return jsonify(org_json(orgs.visible_org(db.session, slug, principal)))


@api_v1.post("/orgs/<slug>/members")
def add_member(slug: str) -> tuple[Response, int]:
    principal, _ = signed_in_user(write=True)
    data = json_body()
    org = orgs.visible_org(db.session, slug, principal)
    user = get_user(db.session, string_field(data, "email", required=True) or "")
    orgs.add_member(db.session, org, user, principal, _optional_str(data, "role") or "member")
    return jsonify(org_json(org)), 201


@api_v1.delete("/orgs/<slug>/members/<int:user_id>")
def remove_member(slug: str, user_id: int) -> Response:
    principal, _ = signed_in_user(write=True)
    org = orgs.visible_org(db.session, slug, principal)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"No member {user_id} in {slug}.", code="member_not_found")
    orgs.remove_member(db.session, org, user, principal)
    return jsonify(org_json(org))


@api_v1.post("/orgs/<slug>/agreement")
def sign_org_agreement(slug: str) -> tuple[Response, int]:
    principal, _ = signed_in_user(write=True)
    data = json_body()
    org = orgs.visible_org(db.session, slug, principal)
    tier = require_tier(current_runtime().tiers, org.tier)
    orgs.sign_agreement(
        db.session,
        org,
        tier,
        signed_by=string_field(data, "signed_by", required=True) or "",
        actor=principal,
    )
    return jsonify(org_json(org)), 201


def org_json(org: Any) -> dict[str, Any]:
    signed = orgs.current_agreement(db.session, org, current_runtime().tiers)
    return {
        "slug": org.slug,
        "name": org.name,
        "tier": org.tier,
        "agreement": None
        if signed is None
        else {
            "agreement": signed.agreement,
            "version": signed.version,
            "sha256": signed.sha256,
            "signed_by": signed.signed_by,
            "signed_at": reports.iso(signed.signed_at),
            "expires_at": reports.iso(signed.expires_at),
        },
        "members": [
            {"user_id": u.id, "email": u.email, "role": m.role, "added_at": reports.iso(m.added_at)}
            for m, u in orgs.members(db.session, org)
        ],
    }


@api_v1.post("/webhooks")
def create_webhook() -> tuple[Response, int]:
    principal, _ = signed_in_user(write=True)
    data = json_body()
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise BadRequest("'events' must be a list of event tags.", code="invalid_events")
    url = string_field(data, "url", required=True) or ""
    try:
        urlsplit(url).port  # noqa: B018  (a malformed host or port raises ValueError)
    except ValueError:
        raise BadRequest(
            "A webhook URL is an http(s) URL with a valid host and port.", code="invalid_url"
        ) from None
    hook, secret = webhooks.create_webhook(db.session, url, events, principal)
    # The secret is shown this once, to configure the receiver.
    return jsonify({**hook_json(hook), "secret": secret}), 201


@api_v1.get("/webhooks")
def list_webhooks() -> Response:
    principal, _ = signed_in_user(write=False)
    if "admin" not in principal.roles:
        raise Forbidden("Only admin staff may see webhooks.", code="forbidden")
    return jsonify({"webhooks": [hook_json(h) for h in webhooks.list_webhooks(db.session)]})


def hook_json(hook: Any) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events.split(),
        "active": hook.active,
        "created_at": reports.iso(hook.created_at),
        "deliveries": [
            {
                "id": d.id,
                "event": d.event,
                "status": d.status,
                "attempts": d.attempts,
                "last_status": d.last_status,
                "last_error": d.last_error,
                "next_attempt_at": reports.iso(d.next_attempt_at),
                "delivered_at": reports.iso(d.delivered_at),
            }
            for d in webhooks.deliveries(db.session, hook.id, limit=50)
        ],
    }


@api_v1.get("/reports/access")
def access_report() -> Response:
    principal, _ = signed_in_user(write=False)
    rows = reports.access_report(db.session, principal)
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        return Response(
            reports.report_csv(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="access-report.csv"'},
        )
    if fmt != "json":
        raise BadRequest("format is csv or json.", code="invalid_format")
    return jsonify({"rows": rows})
