"""The model page (card, release timeline, files of the chosen revision, download
buttons or the one next step, snippets), the web download door and the agreement
page."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.wrappers import Response

from distserver import guards
from distserver.access.apply_links import refusal_apply_url
from distserver.access.policy import lists_files
from distserver.access.services import accept_agreement
from distserver.access.tiers import Tier
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.catalog.models import Model
from distserver.catalog.services import resolve_revision
from distserver.db import utcnow
from distserver.downloads.services import AccessDenied, locate, request_link
from distserver.downloads.standing import standing_of
from distserver.downloads.throttle import anonymous_downloads
from distserver.errors import DistserverError
from distserver.extensions import db
from distserver.fingerprint.preparation import CopyInPreparation
from distserver.releases.evidence import timeline
from distserver.releases.models import ReleaseState
from distserver.urls import external_base
from distserver.web import render, web
from distserver.web.forms import AgreementForm, DownloadForm
from distserver.web.next_step import admitted, next_step
from distserver.web.next_step import pending_application as find_pending
from distserver.web.queries import load_model


def visible_model(namespace: str, name: str) -> tuple[Model, ReleaseState]:
    """The model and its release state, or 404 for a model that does not exist or
    that the visitor may not see."""
    found = load_model(db.session, namespace, name)
    guards.require_visible(found[0] if found else None, f"{namespace}/{name}", current_principal())
    assert found is not None
    return found


@web.get("/models/<namespace>/<name>")
def model_page(namespace: str, name: str) -> str:
    rt = current_runtime()
    principal = current_principal()
    model, state = visible_model(namespace, name)
    rev = (request.args.get("revision") or "main").strip()[:64]
    revision = resolve_revision(db.session, model, rev, with_files=True)
    if revision is None and rev != "main":
        abort(404, f"{model.ref} has no revision {rev!r}.")
    files = list(revision.files) if revision else []
    now = utcnow()
    # The standing on the chosen revision as a whole: the policy asked for its first file.
    first = files[0].path if files else None
    standing = standing_of(db.session, rt, principal, model, revision, first, now)
    facts, decision = standing.facts, standing.decision
    pending = (
        find_pending(db.session, principal, model)
        if decision.reason == "no_grant"
        and any(t.qualification == "application" for t in admitted(rt, facts))
        else None
    )
    step = next_step(
        rt,
        decision,
        facts,
        access=standing.access,
        pending=pending,
        halt_reason=state.halt_reason,
        now=now,
    )
    history = timeline(db.session, model)
    return render_template(
        "model.html",
        model=model,
        facts=facts,
        revision=revision,
        chosen=rev,
        # Paths, sizes and checksums only for visitors the stage admits; the others
        # see the card, the timeline and their next step (access.policy.lists_files).
        files=files if lists_files(decision) else [],
        files_hidden=bool(files) and not lists_files(decision),
        step=step,
        decision=decision,
        stages=render.stages(rt.plans[model.plan], facts.stage, history),
        revisions=render.revisions(history),
        history=[(e, render.describe(e)) for e in reversed(history)][:20],
        tiers=rt.tiers,
        form=DownloadForm(formdata=None),
        base_url=external_base(),
    )


@web.post("/models/<namespace>/<name>/download")
@anonymous_downloads
def download(namespace: str, name: str) -> Response:
    """The web door: a link from downloads.request_link(door="web"), then 302 to it."""
    form = DownloadForm()
    if not form.validate_on_submit():
        abort(400, "Choose a file to download.")
    rev = form.revision.data or "main"
    target = locate(db.session, namespace, name, rev, form.path.data)
    rt = current_runtime()
    try:
        link = request_link(
            db.session,
            rt,
            current_principal(),
            target,
            door="web",
            base_url=external_base() + "/",
            path=form.path.data,
        )
    except AccessDenied as exc:
        if exc.decision.reason == "not_found":
            raise
        url = refusal_apply_url(exc, external=False)
        message = Markup('{} <a href="{}">Apply for access</a>.').format(exc.message, url)
        flash(message if url else exc.message, "error")
        return redirect(url_for("web.model_page", namespace=namespace, name=name, revision=rev))
    except CopyInPreparation as exc:
        # "Your marked copy of ... is being prepared (...), about N minutes": come back.
        flash(exc.message, "info")
        return redirect(url_for("web.model_page", namespace=namespace, name=name, revision=rev))
    return redirect(link.url, code=302)


def _agreement_tier(model: Model) -> Tier:
    rt = current_runtime()
    tier = rt.tiers.get(request.args.get("tier") or "")
    if tier is None or not tier.agreements_for(model.ref):
        abort(404, "That tier has no agreement for this model.")
    return tier


@web.route("/models/<namespace>/<name>/agreement", methods=["GET", "POST"])
@login_required
def agreement(namespace: str, name: str) -> str | Response | tuple[str, int]:
    model, _state = visible_model(namespace, name)
    tier = _agreement_tier(model)
    agreements = tier.agreements_for(model.ref)
    form = AgreementForm()
    current = ",".join(a.sha256 for a in agreements)
    if form.validate_on_submit():
        if form.shown.data != current:
            flash("The agreement changed while you were reading it: read the new version.", "error")
        else:
            try:
                accept_agreement(
                    db.session, current_user, tier, current_principal(), model_ref=model.ref
                )
            except DistserverError as exc:
                flash(exc.message, "error")
            else:
                flash(f"You accepted the {tier.title} agreement for {model.ref}.", "info")
                return redirect(url_for("web.model_page", namespace=namespace, name=name))
    form.shown.data = current
    status = 400 if form.errors else 200
    return render_template(
        "agreement.html", model=model, tier=tier, agreements=agreements, form=form
    ), status
