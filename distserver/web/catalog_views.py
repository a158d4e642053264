"""The catalog: the models the visitor may see, with title, licence (the card's
front matter), total size and last update of the newest revision, stage, the tiers
admitted now and the visitor's own standing; search by name, filter by stage and by
"I can download"."""

from __future__ import annotations

from flask import render_template, request
from sqlalchemy import func, select

from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.catalog.models import File
from distserver.db import utcnow
from distserver.downloads.standing import catalog
from distserver.extensions import db
from distserver.hf.serializers import card_data
from distserver.web import web

MAX_QUERY = 100


@web.get("/models")
def catalog_page() -> str:
    rt = current_runtime()
    principal = current_principal()
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    stage = (request.args.get("stage") or "").strip()
    mine = request.args.get("downloadable") == "1"
    rows = catalog(db.session, rt, principal, utcnow())
    stages = sorted({s.name for p in rt.plans.values() for s in p.stages})
    shown = [
        r
        for r in rows
        if (not q or q.lower() in f"{r.model.ref} {r.model.title}".lower())
        and (not stage or r.facts.stage == stage)
        and (not mine or r.decision.allowed)
    ]
    revisions = [r.revision.id for r in shown if r.revision is not None]
    sizes: dict[int, int] = {}
    if revisions:
        totals = select(File.revision_id, func.sum(File.size)).group_by(File.revision_id)
        for revision_id, total in db.session.execute(totals.where(File.revision_id.in_(revisions))):
            sizes[revision_id] = int(total or 0)
    licences = {r.model.id: str(card_data(r.model.card).get("license") or "") for r in shown}
    return render_template(
        "catalog.html",
        rows=shown,
        sizes=sizes,
        licences=licences,
        total=len(rows),
        q=q,
        stage=stage,
        stages=stages,
        mine=mine,
        tiers=rt.tiers,
    )
