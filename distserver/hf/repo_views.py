"""What `huggingface_hub` asks about one repository beside model info, trees and
files: `list_repo_refs`, `list_repo_commits`, `get_paths_info` and `auth_check`.

- refs and commits say what exists (like model info): any caller who may see the
  model may list them;
- paths-info describes files (like a tree listing) and auth-check answers "may I
  download?": both are refused, the Hub's way, to a caller without standing;
- `auth-check/write` is always refused: this door takes no uploads.
"""

from __future__ import annotations

from flask import Response, g, jsonify, request
from sqlalchemy import select

from distserver.accounts.models import User
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.catalog.models import Revision
from distserver.catalog.services import main_revision
from distserver.catalog.tags import model_tags
from distserver.errors import BadRequest
from distserver.extensions import db
from distserver.hf import hf
from distserver.hf.lookup import find_visible, require_standing
from distserver.hf.paging import flag, link_next, page_offset
from distserver.hf.refusals import COMMIT_KEY, hub_error
from distserver.hf.serializers import commit_entry, path_entries
from distserver.hf.shapes import GitRef, Refs

# The Hub's page size for commit listings.
COMMITS_PAGE_SIZE = 50
# Whom a revision published from the shell without --as is attributed to.
SYSTEM_AUTHOR = "distserver"


@hf.get("/api/models/<namespace>/<name>/refs")
def refs_view(namespace: str, name: str) -> Response:
    """Branches (only `main`: the newest revision) and tags, as git refs."""
    found = find_visible(db.session, current_runtime(), current_principal(), namespace, name, None)
    main = main_revision(db.session, found.model)
    branches: list[GitRef] = (
        [{"name": "main", "ref": "refs/heads/main", "targetCommit": main.commit}] if main else []
    )
    tags: list[GitRef] = [
        {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": commit}
        for tag, commit in model_tags(db.session, found.model)
    ]
    refs: Refs = {"branches": branches, "converts": [], "tags": tags, "pullRequests": []}
    return jsonify(refs)


@hf.get("/api/models/<namespace>/<name>/commits/<rev>")
def commits_view(namespace: str, name: str, rev: str) -> Response:
    """The revisions up to `rev`, newest first, paged with a Link header."""
    principal = current_principal()
    found = find_visible(db.session, current_runtime(), principal, namespace, name, rev)
    offset = page_offset()
    query = (
        select(Revision, User.email)
        .outerjoin(User, User.id == Revision.published_by_id)
        .where(Revision.model_id == found.model.id, Revision.id <= found.revision.id)
        .order_by(Revision.id.desc())
        .offset(offset)
        .limit(COMMITS_PAGE_SIZE + 1)
    )
    rows = list(db.session.execute(query))
    page = [commit_entry(r, email or SYSTEM_AUTHOR) for r, email in rows[:COMMITS_PAGE_SIZE]]
    response = jsonify(page)
    if len(rows) > COMMITS_PAGE_SIZE:
        link_next(response, offset + COMMITS_PAGE_SIZE)
    return response


@hf.post("/api/models/<namespace>/<name>/paths-info/<rev>")
def paths_info_view(namespace: str, name: str, rev: str) -> Response:
    """The entries of the asked paths (form fields `paths`, `expand`)."""
    rt = current_runtime()
    principal = current_principal()
    found = find_visible(db.session, rt, principal, namespace, name, rev)
    g.setdefault(COMMIT_KEY, found.revision.commit)
    require_standing(db.session, rt, principal, found.model)
    paths = request.form.getlist("paths")
    if len(paths) > 1000:
        raise BadRequest("Ask for at most 1000 paths at a time.", code="too_many_paths")
    return jsonify(path_entries(found.revision, paths, expand=flag(request.form.get("expand"))))


@hf.get("/api/models/<namespace>/<name>/auth-check")
def auth_check_view(namespace: str, name: str) -> Response:
    """200 when the caller may download the model's files now; otherwise the same
    refusal a download would get (RepoNotFound, GatedRepo)."""
    rt = current_runtime()
    principal = current_principal()
    found = find_visible(db.session, rt, principal, namespace, name, None)
    require_standing(db.session, rt, principal, found.model)
    return jsonify({"access": "read"})


@hf.get("/api/models/<namespace>/<name>/auth-check/write")
def auth_check_write_view(namespace: str, name: str) -> Response:
    find_visible(db.session, current_runtime(), current_principal(), namespace, name, None)
    return hub_error(
        403,
        None,
        "This server takes no uploads through the Hugging Face door: staff publish "
        "with `distserver models publish`.",
    )
