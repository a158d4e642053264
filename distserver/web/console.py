"""What the lab's console pages for organisations and webhooks share: who may see them
(admin staff, the role the services require) and how a write runs (the admin must
also have proved a second factor in this session, checked with the same
`require_role` the API's staff actions use; the service's refusal is flashed with its
own sentence, on the page the person came from)."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from distserver.accounts.sessions import current_principal
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.identity import Principal, require_role

ADMIN = frozenset({"admin"})


def console_viewer(what: str) -> Principal:
    """The signed-in admin; anyone else gets the 403 page saying who may."""
    principal = current_principal()
    require_role(principal, ADMIN, what)
    return principal


def console_write(
    what: str, form: FlaskForm | None, back: str, action: Callable[[Principal], str]
) -> Response:
    """Validate `form`, check the role and second factor, run `action` (a service call
    returning the sentence to show) and go back to `back`; every refusal is flashed."""
    principal = console_viewer(what)
    if form is not None and not form.validate_on_submit():
        for field, errors in form.errors.items():
            label = getattr(getattr(form, field, None), "label", None)
            for error in errors:
                flash(f"{label.text}: {error}" if label is not None else error, "error")
        return redirect(back)
    try:
        require_role(principal, ADMIN, what, second_factor=True)
        flash(action(principal), "info")
    except DistserverError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    return redirect(back)
