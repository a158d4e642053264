"""The console's partner organisations, under /staff/orgs: the list (and creating one),
an organisation's members and managers (add, change, remove behind a confirmation
page) and its signed agreements (record a signature). Admin staff only; writes need a
proved second factor (web/console.py). Thin views over access/organizations.py, the
services the API and the CLI call."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from distserver.access import organizations as orgs
from distserver.access.models import Organization
from distserver.access.services import require_tier
from distserver.accounts.models import User
from distserver.accounts.services import get_user
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.db import utcnow
from distserver.errors import BadRequest, NotFound
from distserver.extensions import db
from distserver.identity import Principal
from distserver.web.console import console_viewer, console_write
from distserver.web.org_forms import (
    MemberForm,
    MemberRoleForm,
    OrgAgreementForm,
    OrgForm,
    ReasonForm,
)
from distserver.web.staff_views import staff

WHAT = "manage organisations"


def _org_form(**kw: object) -> OrgForm:
    form = OrgForm(**kw)
    tiers = [t for t in current_runtime().tiers.values() if t.qualification == "organization"]
    form.tier.choices = [SelectChoice(t.name, t.title) for t in tiers]
    return form


def _member(org: Organization, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"No member {user_id} in {org.slug}.", code="member_not_found")
    return user


@staff.get("/orgs")
@login_required
def orgs_index() -> str:
    console_viewer(WHAT)
    return render_template(
        "staff/orgs.html",
        rows=orgs.list_orgs(db.session),
        form=_org_form(formdata=None),
        proved=current_principal().second_factor,
    )


@staff.post("/orgs")
@login_required
def org_create() -> Response:
    form = _org_form()

    def create(actor: Principal) -> str:
        tier = require_tier(current_runtime().tiers, form.tier.data or "")
        org = orgs.create_org(db.session, form.slug.data or "", form.name.data or "", tier, actor)
        return f"Organisation {org.slug} created."

    return console_write(WHAT, form, url_for("staff.orgs_index"), create)


@staff.get("/orgs/<slug>")
@login_required
def org_page(slug: str) -> str:
    console_viewer(WHAT)
    org = orgs.get_org(db.session, slug)
    tier = current_runtime().tiers.get(org.tier)
    return render_template(
        "staff/org.html",
        org=org,
        tier=tier,
        members=orgs.members(db.session, org),
        agreements=orgs.agreements(db.session, org),
        current=orgs.current_agreement(db.session, org, current_runtime().tiers),
        member_form=MemberForm(formdata=None),
        role_form=MemberRoleForm(formdata=None),
        agreement_form=OrgAgreementForm(formdata=None),
        now=utcnow(),
        proved=current_principal().second_factor,
    )


@staff.post("/orgs/<slug>/members")
@login_required
def org_add_member(slug: str) -> Response:
    form = MemberForm()

    def add(actor: Principal) -> str:
        org = orgs.get_org(db.session, slug)
        user = get_user(db.session, (form.email.data or "").strip())
        membership = orgs.add_member(db.session, org, user, actor, form.role.data or "member")
        return f"{user.email} is now a {membership.role} of {org.slug}."

    return console_write(WHAT, form, url_for("staff.org_page", slug=slug), add)


@staff.post("/orgs/<slug>/members/<int:user_id>/role")
@login_required
def org_member_role(slug: str, user_id: int) -> Response:
    form = MemberRoleForm()

    def change(actor: Principal) -> str:
        org = orgs.get_org(db.session, slug)
        user = _member(org, user_id)
        membership = orgs.change_member_role(db.session, org, user, form.role.data or "", actor)
        return f"{user.email} is now a {membership.role} of {org.slug}."

    return console_write(WHAT, form, url_for("staff.org_page", slug=slug), change)


@staff.get("/orgs/<slug>/members/<int:user_id>/remove")
@login_required
def org_remove_confirm(slug: str, user_id: int) -> str:
    console_viewer(WHAT)
    org = orgs.get_org(db.session, slug)
    user = _member(org, user_id)
    return render_template(
        "staff/confirm.html",
        title=f"Remove {user.email} from {org.slug}?",
        explanation=(
            f"{user.email} loses the {org.tier} tier held through {org.name} on their next "
            "request; their links already issued still expire on their own."
        ),
        action=url_for("staff.org_remove_member", slug=slug, user_id=user_id),
        button=f"Remove {user.email}",
        back=url_for("staff.org_page", slug=slug),
        form=ReasonForm(formdata=None),
        reason=False,
    )


@staff.post("/orgs/<slug>/members/<int:user_id>/remove")
@login_required
def org_remove_member(slug: str, user_id: int) -> Response:
    def remove(actor: Principal) -> str:
        org = orgs.get_org(db.session, slug)
        user = _member(org, user_id)
        orgs.remove_member(db.session, org, user, actor)
        return f"{user.email} is no longer a member of {org.slug}."

    return console_write(WHAT, ReasonForm(), url_for("staff.org_page", slug=slug), remove)


@staff.post("/orgs/<slug>/agreement")
@login_required
def org_sign(slug: str) -> Response:
    form = OrgAgreementForm()

    def sign(actor: Principal) -> str:
        org = orgs.get_org(db.session, slug)
        tier = require_tier(current_runtime().tiers, org.tier)
        expires = None
        if form.expires.data is not None:
            expires = datetime.combine(form.expires.data, time.min, tzinfo=UTC)
            if expires <= utcnow():
                raise BadRequest("Choose an expiry date after today, or leave it empty.")
        signed = orgs.sign_agreement(
            db.session,
            org,
            tier,
            signed_by=form.signed_by.data or "",
            actor=actor,
            expires_at=expires,
        )
        return (
            f"The {signed.agreement} agreement (version {signed.version}) signed by "
            f"{signed.signed_by} for {org.slug} is recorded."
        )

    return console_write(WHAT, form, url_for("staff.org_page", slug=slug), sign)
