"""GET /api/v1/models and /api/v1/models/<ns>/<name>.

Fingerprinted recipients (a user whose standing on the model is in a tier with
``fingerprint = true``): each ``*.safetensors`` entry of the model detail carries
``"fingerprint"``:

- ``"copy"``: the recipient's marked copy exists; ``sha256`` and ``size`` are the copy's,
  exactly what a download will serve.
- ``"pending"``: no copy yet (it is made at the first download; computing it here would
  mark the whole file on a listing). ``size`` is exact (a copy has the published
  length); ``sha256`` is the published file's, and the copy's will differ unless the
  file holds no weight matrix. The link response carries the served sha256.

Every other entry has ``"fingerprint": null`` and is served as published.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from distserver import guards
from distserver.access.policy import lists_files, may_see
from distserver.accounts.sessions import current_principal
from distserver.api import api_v1
from distserver.app_runtime import current_runtime
from distserver.catalog.services import list_models, main_revision
from distserver.downloads.services import locate
from distserver.downloads.standing import model_access, recipient_copies
from distserver.extensions import db
from distserver.fingerprint.copies import is_weights
from distserver.releases.services import model_facts


@api_v1.get("/models")
def models_index() -> Response:
    rt = current_runtime()
    principal = current_principal()
    out: list[dict[str, Any]] = []
    for model in list_models(db.session):
        facts = model_facts(db.session, model, rt.plans)
        if may_see(principal, facts):
            out.append(
                {
                    "id": model.ref,
                    "title": model.title,
                    "stage": facts.stage,
                    "tiers": list(facts.admitted_tiers),
                    "halted": facts.halted,
                }
            )
    return jsonify({"models": out})


@api_v1.get("/models/<namespace>/<name>")
def model_detail(namespace: str, name: str) -> Response:
    rt = current_runtime()
    principal = current_principal()
    target = locate(db.session, namespace, name, "main", None)
    facts = guards.require_visible(target.model, f"{namespace}/{name}", principal)
    assert target.model is not None
    revision = main_revision(db.session, target.model)
    decision = model_access(db.session, rt, principal, target.model)
    # The file list only for callers the stage admits (access.policy.lists_files).
    files = revision.files if revision and lists_files(decision) else []
    marked, copies = recipient_copies(db.session, rt, principal, target.model, files, decision)
    listed: list[dict[str, Any]] = []
    for f in files:
        entry: dict[str, Any] = {"path": f.path, "size": f.size, "sha256": f.sha256}
        entry["fingerprint"] = None
        if marked and is_weights(f.path):
            copy = copies.get(f.sha256)
            entry["fingerprint"] = "copy" if copy else "pending"
            if copy:
                entry.update(size=copy.size, sha256=copy.sha256)
        listed.append(entry)
    return jsonify(
        {
            "id": target.model.ref,
            "title": target.model.title,
            "stage": facts.stage,
            "tiers": list(facts.admitted_tiers),
            "halted": facts.halted,
            "revision": revision.commit if revision else None,
            "files": listed,
            "access": {
                "allowed": decision.allowed,
                "tier": decision.tier,
                "reason": decision.reason,
                "message": decision.message,
            },
        }
    )
