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
from distserver.api.bodies import json_body, read_body
from distserver.api.schemas import access as shapes
from distserver.api.schemas import staff as staff_shapes
from distserver.api.schemas.common import AUTH, WRITE, answers
from distserver.api.spec import declare
from distserver.app_runtime import current_runtime
from distserver.errors import BadRequest, Forbidden, NotFound
from distserver.extensions import db
from distserver.identity import Principal, require_role

# Ids are INTEGER keys (32-bit on PostgreSQL); a larger one names nothing, and passed
# to the database it overflows (an error, not an answer) on SQLite and PostgreSQL.
MAX_ID = shapes.MAX_ID


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


def _app_json(application: Any, *, history: bool = False) -> dict[str, Any]:
    return reports.application_dict(db.session, application, with_history=history)


@api_v1.post("/models/<namespace>/<name>/applications")
@declare("access", answers(201, shapes.Application, WRITE), json=shapes.ApplyRequest)
def apply(namespace: str, name: str) -> tuple[Response, int]:
    """Apply for a tier with the form's answers and the agreement's sha256."""
    principal, user = signed_in_user(write=True)
    data = json_body()
    model = guards.visible_model(namespace, name, principal)
    body = read_body(shapes.ApplyRequest, data)
    rt = current_runtime()
    plan = rt.plans.get(model.plan)
    plan_tiers = frozenset(t for s in plan.stages for t in s.tiers) if plan else frozenset()
    application = apps.submit(
        db.session,
        rt.tiers,
        user,
        model,
        body.tier,
        body.answers,
        actor=principal,
        agreement_sha256=body.agreement_sha256,
        model_agreement_sha256=body.model_agreement_sha256,
        plan_tiers=plan_tiers,
    )
    return jsonify(_app_json(application)), 201


@api_v1.get("/applications")
@declare(
    "access",
    answers(200, shapes.ApplicationList, (*AUTH, 503)),
    query=shapes.ApplicationQuery,
)
def application_queue() -> Response:
    """The review queue (reviewers), or the caller's own applications."""
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
@declare("access", answers(200, shapes.Application, (*AUTH, 404, 503)))
def application_detail(app_id: int) -> Response:
    """One application (the applicant's own, or any for reviewers)."""
    principal, _ = signed_in_user(write=False)
    application = apps.get_application(db.session, app_id, principal)
    reviewer = bool(principal.roles & apps.REVIEWERS)
    return jsonify(_app_json(application, history=reviewer))


def _decide(principal: Principal, ids: list[int], decision: str, reason: str | None) -> Response:
    rows = apps.decide(db.session, current_runtime().tiers, ids, decision, reason, principal)
    return jsonify({"applications": [_app_json(a) for a in rows]})


DECIDED = answers(200, shapes.ApplicationList, WRITE)


@api_v1.post("/applications/<int:app_id>/approve")
@declare("access", DECIDED, json=shapes.DecisionRequest)
def approve(app_id: int) -> Response:
    """Approve an application, with an optional reason (reviewers)."""
    principal, _ = signed_in_user(write=True)  # authenticate before parsing the body
    reason = read_body(shapes.DecisionRequest).reason
    return _decide(principal, [app_id], "approve", reason)


@api_v1.post("/applications/<int:app_id>/reject")
@declare("access", DECIDED, json=shapes.DecisionRequest)
def reject(app_id: int) -> Response:
    """Reject an application, with a reason (reviewers)."""
    principal, _ = signed_in_user(write=True)
    reason = read_body(shapes.DecisionRequest).reason
    return _decide(principal, [app_id], "reject", reason)


@api_v1.post("/applications/decide")
@declare("access", DECIDED, json=shapes.DecideManyRequest)
def decide_many() -> Response:
    """Approve or reject several applications at once (reviewers)."""
    principal, _ = signed_in_user(write=True)
    body = read_body(shapes.DecideManyRequest)
    return _decide(principal, body.ids, body.decision, body.reason)


@api_v1.post("/applications/<int:app_id>/withdraw")
@declare("access", answers(200, shapes.Application, (*AUTH, 404, 409, 503)))
def withdraw(app_id: int) -> Response:
    """Withdraw one's own pending application."""
    principal, _ = signed_in_user(write=True)
    return jsonify(_app_json(apps.withdraw(db.session, app_id, principal)))


@api_v1.post("/models/<namespace>/<name>/agreement")
@declare("access", answers(201, shapes.Accepted, WRITE), json=shapes.AcceptRequest)
def accept(namespace: str, name: str) -> tuple[Response, int]:
    """Accept the agreements of a tier for this model."""
    principal, user = signed_in_user(write=True)
    data = json_body()
    model = guards.visible_model(namespace, name, principal)
    body = read_body(shapes.AcceptRequest, data)
    tier = require_tier(current_runtime().tiers, body.tier)
    if not tier.agreements_for(model.ref):
        raise BadRequest(f"The {tier.name} tier has no agreement to accept.", code="no_agreement")
    apps.check_agreements(
        tier,
        model.ref,
        body.agreement_sha256,
        body.model_agreement_sha256,
    )
    accept_agreement(db.session, user, tier, principal, model_ref=model.ref)
    accepted = [
        {"agreement": a.name, "version": a.version, "sha256": a.sha256}
        for a in tier.agreements_for(model.ref)
    ]
    return jsonify({"tier": tier.name, "model": model.ref, "accepted": accepted}), 201


@api_v1.get("/me/access")
@declare("access", answers(200, shapes.MyAccess, (*AUTH, 503)))
def my_access() -> Response:
    """The caller's applications, grants, organisations and agreements."""
    _, user = signed_in_user(write=False)
    return jsonify(reports.my_access(db.session, user.id, current_runtime().tiers))


@api_v1.post("/grants/<int:grant_id>/renew")
@declare("access", answers(201, shapes.Application, WRITE), json=shapes.RenewRequest)
def renew(grant_id: int) -> tuple[Response, int]:
    """Apply to renew one's own model grant."""
    principal, _ = signed_in_user(write=True)
    body = read_body(shapes.RenewRequest, json_body() if request.content_length else {})
    application = apps.renew(
        db.session,
        current_runtime().tiers,
        grant_id,
        principal,
        answers=body.answers,
        agreement_sha256=body.agreement_sha256,
        model_agreement_sha256=body.model_agreement_sha256,
    )
    return jsonify(_app_json(application)), 201


@api_v1.post("/grants/<int:grant_id>/revoke")
@api_v1.delete("/grants/<int:grant_id>")
@declare("access", answers(200, shapes.RevokedGrant, (*AUTH, 404, 409, 503)))
def revoke(grant_id: int) -> Response:
    """Revoke a grant (reviewers); DELETE /grants/{grant_id} is the same."""
    principal, _ = signed_in_user(write=True)
    if not principal.roles & apps.REVIEWERS:
        raise NotFound(f"No live grant {grant_id}.", code="grant_not_found")
    grant = revoke_grant(db.session, grant_id, principal)
    return jsonify({"id": grant.id, "revoked_at": reports.iso(grant.revoked_at)})


ORGANISATION = staff_shapes.Organisation


@api_v1.post("/orgs")
@declare(
    "organisations",
    answers(201, ORGANISATION, WRITE),
    json=staff_shapes.OrganisationRequest,
)
def create_org() -> tuple[Response, int]:
    """Create a partner organisation (admin)."""
    principal, _ = signed_in_user(write=True)
    body = read_body(staff_shapes.OrganisationRequest)
    tier = require_tier(current_runtime().tiers, body.tier or "vetted_partner")
    org = orgs.create_org(db.session, body.slug, body.name, tier, principal)
    return jsonify(org_json(org)), 201


@api_v1.get("/orgs/<slug>")
@declare("organisations", answers(200, ORGANISATION, (*AUTH, 404, 503)))
def show_org(slug: str) -> Response:
    """An organisation, its agreement and members (admin or its managers)."""
    principal, _ = signed_in_user(write=False)
    return jsonify(org_json(orgs.visible_org(db.session, slug, principal)))


@api_v1.post("/orgs/<slug>/members")
@declare("organisations", answers(201, ORGANISATION, WRITE), json=staff_shapes.MemberRequest)
def add_member(slug: str) -> tuple[Response, int]:
    """Add a user, by e-mail, to an organisation."""
    principal, _ = signed_in_user(write=True)
    data = json_body()
    org = orgs.visible_org(db.session, slug, principal)
    body = read_body(staff_shapes.MemberRequest, data)
    user = get_user(db.session, body.email)
    orgs.add_member(db.session, org, user, principal, body.role or "member")
    return jsonify(org_json(org)), 201


@api_v1.delete("/orgs/<slug>/members/<int:user_id>")
@declare("organisations", answers(200, ORGANISATION, (*AUTH, 404, 409, 503)))
def remove_member(slug: str, user_id: int) -> Response:
    """Remove a member from an organisation."""
    principal, _ = signed_in_user(write=True)
    org = orgs.visible_org(db.session, slug, principal)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"No member {user_id} in {slug}.", code="member_not_found")
    orgs.remove_member(db.session, org, user, principal)
    return jsonify(org_json(org))


@api_v1.post("/orgs/<slug>/agreement")
@declare("organisations", answers(201, ORGANISATION, WRITE), json=staff_shapes.SignatureRequest)
def sign_org_agreement(slug: str) -> tuple[Response, int]:
    """Record the organisation's signed agreement (admin)."""
    principal, _ = signed_in_user(write=True)
    data = json_body()
    org = orgs.visible_org(db.session, slug, principal)
    body = read_body(staff_shapes.SignatureRequest, data)
    tier = require_tier(current_runtime().tiers, org.tier)
    orgs.sign_agreement(
        db.session,
        org,
        tier,
        signed_by=body.signed_by,
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
@declare(
    "webhooks",
    answers(201, staff_shapes.WebhookWithSecret, (*AUTH, 409, 413, 503)),
    json=staff_shapes.WebhookRequest,
)
def create_webhook() -> tuple[Response, int]:
    """Create a webhook; its signing secret is shown only in this answer (admin)."""
    principal, _ = signed_in_user(write=True)
    body = read_body(staff_shapes.WebhookRequest)
    url, events = body.url, body.events
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
@declare("webhooks", answers(200, staff_shapes.WebhookList, (*AUTH, 503)))
def list_webhooks() -> Response:
    """Webhooks and their recent deliveries (admin)."""
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
@declare(
    "access",
    answers(200, staff_shapes.AccessReport, (*AUTH, 503)),
    query=staff_shapes.ReportQuery,
)
def access_report() -> Response:
    """Who holds what (reviewers and auditors see everyone; others themselves)."""
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
