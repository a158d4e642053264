"""`GET /api/models`: `list_models` of huggingface_hub, over the models the caller may
see (the policy's `may_see`), and nothing else.

Query: `search` (in the id or title, any case), `author` (the namespace), `sort`
(`id`, `lastModified`, `createdAt`, `downloads`, `likes`; all but `id` newest or
most first, as the Hub sorts), `limit` (the page size, at most PAGE_SIZE), `full`
(include the file list). Pages follow the Link header, like the Hub's.
"""

from __future__ import annotations

from operator import itemgetter

from flask import Response, jsonify, request

from distserver.access.policy import may_see
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.catalog.services import list_models, main_revision
from distserver.downloads.counts import recent_downloads
from distserver.errors import BadRequest
from distserver.extensions import db
from distserver.hf import hf
from distserver.hf.paging import flag, link_next, page_offset
from distserver.hf.serializers import model_info
from distserver.hf.shapes import ModelInfo
from distserver.releases.services import model_facts

PAGE_SIZE = 1000
SORTS = ("id", "lastModified", "createdAt", "downloads", "likes", "trendingScore")


@hf.get("/api/models")
def list_models_view() -> Response:
    rt = current_runtime()
    principal = current_principal()
    search = (request.args.get("search") or "").strip().lower()[:200]
    author = (request.args.get("author") or "").strip()
    sort = request.args.get("sort") or "id"
    if sort not in SORTS:
        raise BadRequest(f"sort is one of {', '.join(SORTS)}.", code="invalid_sort")
    try:
        size = min(int(request.args.get("limit") or PAGE_SIZE), PAGE_SIZE)
    except ValueError:
        raise BadRequest("limit is a whole number.", code="invalid_limit") from None
    if size < 1:
        raise BadRequest("limit is at least 1.", code="invalid_limit")
    full = flag(request.args.get("full"))

    listed: list[ModelInfo] = []
    for model in list_models(db.session):
        if author and model.namespace != author:
            continue
        if search and search not in model.ref.lower() and search not in model.title.lower():
            continue
        facts = model_facts(db.session, model, rt.plans)
        if facts is None or not may_see(principal, facts):
            continue
        info = model_info(model, main_revision(db.session, model), facts, rt.tiers)
        if not full:
            info.pop("siblings")
        listed.append(info)
    counts = recent_downloads(db.session, (i["id"] for i in listed))
    for info in listed:
        info["downloads"] = counts[info["id"]]
    listed.sort(key=lambda i: i["id"])
    if sort in ("lastModified", "createdAt", "downloads", "likes"):
        listed.sort(key=itemgetter(sort), reverse=True)  # stable: ties stay by id

    offset = page_offset()
    response = jsonify(listed[offset : offset + size])
    if len(listed) > offset + size:
        link_next(response, offset + size)
    return response
