"""The console's webhooks, under /staff/webhooks: the list (and creating one, its
signing secret shown once on the answer page), a hook's deliveries (redeliver one) and
rotating its secret behind a confirmation page (the new secret, too, shown once).
Admin staff only; writes need a proved second factor (web/console.py). Thin views over
access/webhooks.py, the services the API and the CLI call."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from distserver.access import webhooks
from distserver.access.models import Webhook
from distserver.accounts.sessions import current_principal
from distserver.errors import BadRequest, DistserverError
from distserver.extensions import db
from distserver.identity import Principal, require_role
from distserver.web.console import ADMIN, console_viewer, console_write
from distserver.web.org_forms import ReasonForm, WebhookForm
from distserver.web.staff_views import staff

WHAT = "configure webhooks"
Page = str | tuple[str, int]


def _hook_form(**kw: object) -> WebhookForm:
    form = WebhookForm(**kw)
    form.events.choices = [
        SelectChoice("*", "every event"),
        *(SelectChoice(e, e) for e in webhooks.SENT_EVENTS),
        SelectChoice("alert.*", "every alert event"),
        *(SelectChoice(e, e) for e in webhooks.ALERT_EVENTS),
    ]
    return form


def _index(form: WebhookForm, status: int = 200, errors: list[str] | None = None) -> Page:
    return render_template(
        "staff/webhooks.html",
        hooks=webhooks.list_webhooks(db.session),
        form=form,
        errors=errors or [],
        proved=current_principal().second_factor,
    ), status


def _secret_page(hook: Webhook, secret: str, what: str, status: int) -> Page:
    # Rendered, not redirected: the secret never lands in a cookie or a URL.
    return render_template("staff/webhook_secret.html", hook=hook, secret=secret, what=what), status


@staff.get("/webhooks")
@login_required
def webhooks_index() -> Page:
    console_viewer(WHAT)
    return _index(_hook_form(formdata=None))


@staff.post("/webhooks")
@login_required
def webhook_create() -> Page:
    principal = console_viewer(WHAT)
    form = _hook_form()
    if not form.validate_on_submit():
        return _index(form, 400)
    try:
        require_role(principal, ADMIN, WHAT, second_factor=True)
        url = (form.url.data or "").strip()
        try:
            urlsplit(url).port  # noqa: B018  (a malformed host or port raises ValueError)
        except ValueError:
            raise BadRequest(
                "A webhook URL is an http(s) URL with a valid host and port."
            ) from None
        hook, secret = webhooks.create_webhook(db.session, url, form.events.data or [], principal)
    except DistserverError as exc:
        db.session.rollback()
        return _index(form, exc.status, [exc.message])
    return _secret_page(hook, secret, "created", 201)


@staff.get("/webhooks/<int:webhook_id>")
@login_required
def webhook_page(webhook_id: int) -> str:
    console_viewer(WHAT)
    hook = webhooks.get_webhook(db.session, webhook_id)
    return render_template(
        "staff/webhook.html",
        hook=hook,
        deliveries=webhooks.deliveries(db.session, hook.id, limit=100),
        confirm=ReasonForm(formdata=None),
        proved=current_principal().second_factor,
    )


@staff.get("/webhooks/<int:webhook_id>/rotate")
@login_required
def webhook_rotate_confirm(webhook_id: int) -> str:
    console_viewer(WHAT)
    hook = webhooks.get_webhook(db.session, webhook_id)
    return render_template(
        "staff/confirm.html",
        title=f"Rotate the signing secret of webhook {hook.id}?",
        explanation=(
            f"Deliveries to {hook.url} are signed with a new secret from now on, retries "
            "included: the receiver refuses them until it is given the new secret, "
            "which is shown once on the next page."
        ),
        action=url_for("staff.webhook_rotate", webhook_id=hook.id),
        button="Rotate the secret",
        back=url_for("staff.webhook_page", webhook_id=hook.id),
        form=ReasonForm(formdata=None),
        reason=False,
    )


@staff.post("/webhooks/<int:webhook_id>/rotate")
@login_required
def webhook_rotate(webhook_id: int) -> Page | Response:
    principal = console_viewer(WHAT)
    ReasonForm()  # the CSRF token is checked before the view runs
    back = url_for("staff.webhook_page", webhook_id=webhook_id)
    try:
        require_role(principal, ADMIN, WHAT, second_factor=True)
        hook, secret = webhooks.rotate_secret(db.session, webhook_id, principal)
    except DistserverError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    return _secret_page(hook, secret, "rotated", 200)


@staff.post("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver")
@login_required
def webhook_redeliver(webhook_id: int, delivery_id: int) -> Response:
    def again(actor: Principal) -> str:
        delivery = webhooks.redeliver(db.session, webhook_id, delivery_id, actor)
        return f"Delivery {delivery_id} is queued again as delivery {delivery.id}."

    back = url_for("staff.webhook_page", webhook_id=webhook_id)
    return console_write(WHAT, ReasonForm(), back, again)
