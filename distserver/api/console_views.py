"""The console's actions on organisations and webhooks in /api/v1, beside the pages
that call the same services: change a member's role, rotate a webhook's signing
secret (the new secret is in this answer only) and redeliver a past delivery."""

from __future__ import annotations

from flask import Response, jsonify

from distserver.access import organizations as orgs
from distserver.access import webhooks
from distserver.accounts.models import User
from distserver.api import api_v1
from distserver.api.applications_views import hook_json, org_json, signed_in_user
from distserver.api.bodies import read_body
from distserver.api.schemas.common import WRITE, answers
from distserver.api.schemas.staff import Organisation, Redelivery, RoleRequest, WebhookWithSecret
from distserver.api.spec import declare
from distserver.errors import NotFound
from distserver.extensions import db


@api_v1.patch("/orgs/<slug>/members/<int:user_id>")
@declare("organisations", answers(200, Organisation, WRITE), json=RoleRequest)
def change_member_role(slug: str, user_id: int) -> Response:
    """Make a member a manager, or a manager a member (admin)."""
    principal, _ = signed_in_user(write=True)
    role = read_body(RoleRequest).role
    org = orgs.visible_org(db.session, slug, principal)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"No member {user_id} in {slug}.", code="member_not_found")
    orgs.change_member_role(db.session, org, user, role, principal)
    return jsonify(org_json(org))


@api_v1.post("/webhooks/<int:webhook_id>/rotate-secret")
@declare("webhooks", answers(200, WebhookWithSecret, (400, 401, 403, 404, 409, 503)))
def rotate_webhook_secret(webhook_id: int) -> Response:
    """Give the webhook a new signing secret, shown only in this answer (admin)."""
    principal, _ = signed_in_user(write=True)
    hook, secret = webhooks.rotate_secret(db.session, webhook_id, principal)
    # The new secret is shown this once, to configure the receiver.
    return jsonify({**hook_json(hook), "secret": secret})


@api_v1.post("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@declare("webhooks", answers(201, Redelivery, (400, 401, 403, 404, 409, 503)))
def redeliver_webhook(webhook_id: int, delivery_id: int) -> tuple[Response, int]:
    """Send a past delivery's event again, as a new delivery (admin)."""
    principal, _ = signed_in_user(write=True)
    copy = webhooks.redeliver(db.session, webhook_id, delivery_id, principal)
    return jsonify(
        {"id": copy.id, "webhook_id": copy.webhook_id, "event": copy.event, "status": copy.status}
    ), 201
