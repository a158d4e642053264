"""Routes of the Hugging Face door: the subset of the Hub's API that
`huggingface_hub` (2.x) calls for `hf download`, `snapshot_download`,
`hf_hub_download` and `from_pretrained`.

How resolve counts (the README's docs/huggingface.md says the same to users):

- a `resolve` that answers with a signed URL (302) is a link issuance, decided,
  counted against the quota and recorded by `request_link(door="hf")`;
- with the S3 backend the client's `HEAD` gets that 302 and fetches the signed URL
  from S3 itself, so the `HEAD` is the one counted request per file;
- with the local backend the signed URL is on this same server, and
  huggingface_hub follows same-origin redirects of its `HEAD` (it would then miss
  `X-Repo-Commit`); so a `HEAD` answers the metadata only (200, not counted, still
  refused by the policy when the caller has no access) and the client's following
  `GET` is the one that issues the link.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from flask import Response, g, jsonify, request

from distserver.access.policy import Decision, lists_files
from distserver.accounts.sessions import current_principal
from distserver.app_runtime import Runtime, current_runtime
from distserver.catalog.names import MAX_PATH
from distserver.downloads.counts import recent_downloads
from distserver.downloads.doors import link_for_request
from distserver.downloads.services import Target
from distserver.downloads.standing import model_access, recipient_copies, served_blob
from distserver.downloads.throttle import anonymous_downloads
from distserver.errors import BadRequest
from distserver.extensions import db
from distserver.hf import hf
from distserver.hf.lookup import Found, find_visible, require_file, require_standing
from distserver.hf.refusals import COMMIT_KEY, not_found, register_refusals
from distserver.hf.serializers import model_info, page_after, tree_entries
from distserver.identity import Principal
from distserver.urls import external_base

# The Hub's page sizes for tree listings.
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPANDED = 50

register_refusals(hf)


def flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in ("1", "true", "yes")


@hf.get("/api/models/<namespace>/<name>")
@hf.get("/api/models/<namespace>/<name>/revision/<path:rev>")
def model_info_view(namespace: str, name: str, rev: str = "main") -> Response:
    rt = current_runtime()
    principal = current_principal()
    found = find_visible(db.session, rt, principal, namespace, name, rev)
    # Siblings (and with ?blobs their checksums) only for a caller the tree would
    # answer: the same rule as the model page (access.policy.lists_files).
    access = model_access(db.session, rt, principal, found.model)
    listed = lists_files(access)
    served = _served(rt, principal, found, access) if flag("blobs") and listed else None
    downloads = recent_downloads(db.session, [found.model.ref])[found.model.ref]
    info = model_info(
        found.model,
        found.revision,
        found.facts,
        rt.tiers,
        blobs=flag("blobs"),
        served=served,
        listed=listed,
        downloads=downloads,
    )
    return jsonify(info)


@hf.get("/api/models/<namespace>/<name>/tree/<rev>")
@hf.get("/api/models/<namespace>/<name>/tree/<rev>/<path:path>")
def tree_view(namespace: str, name: str, rev: str, path: str = "") -> Response:
    rt = current_runtime()
    principal = current_principal()
    found = find_visible(db.session, rt, principal, namespace, name, rev)
    g.setdefault(COMMIT_KEY, found.revision.commit)
    access = require_standing(db.session, rt, principal, found.model)
    expand = flag("expand")
    entries = tree_entries(
        found.revision,
        path.strip("/"),
        recursive=flag("recursive"),
        expand=expand,
        served=_served(rt, principal, found, access),
    )
    if entries is None:
        raise not_found("file", f"{found.model.ref} has no folder {path!r}.")
    size = TREE_PAGE_SIZE_EXPANDED if expand else TREE_PAGE_SIZE
    page = page_after(entries, _cursor(), size + 1)
    response = jsonify(page[:size])
    if len(page) > size:
        query = {k: v for k, v in request.args.items() if k != "cursor"}
        query["cursor"] = base64.urlsafe_b64encode(page[size - 1]["path"].encode()).decode()
        response.headers["Link"] = (
            f'<{external_base()}{request.path}?{urlencode(query)}>; rel="next"'
        )
    return response


@hf.route("/<namespace>/<name>/resolve/<rev>/<path:path>", methods=["GET", "HEAD"])
@anonymous_downloads
def resolve_view(namespace: str, name: str, rev: str, path: str) -> Response:
    rt = current_runtime()
    if request.method == "HEAD" and rt.storage.backend == "local":
        return _metadata_only(rt, namespace, name, rev, path)
    path = path[: MAX_PATH + 1]  # longer paths exist nowhere; keep the audit row small
    link = link_for_request(
        namespace,
        name,
        rev,
        path,
        door="hf",
        on_revision=lambda commit: g.setdefault(COMMIT_KEY, commit),
    )
    response = Response(b"", status=302)
    response.headers["Location"] = link.url
    return _file_headers(response, link.commit, link.sha256, link.size)


def _metadata_only(rt: Runtime, namespace: str, name: str, rev: str, path: str) -> Response:
    # The local backend's HEAD: see the module docstring for why it issues no link.
    principal = current_principal()
    found = find_visible(db.session, rt, principal, namespace, name, rev)
    g.setdefault(COMMIT_KEY, found.revision.commit)
    file = require_file(db.session, found, path)
    require_standing(db.session, rt, principal, found.model)
    target = Target(found.model, found.revision, file, found.model.ref)
    sha, size = served_blob(db.session, rt, principal, target)  # a marked copy's
    return _file_headers(Response(b"", status=200), found.revision.commit, sha, size)


def _served(
    rt: Runtime, principal: Principal, found: Found, access: Decision
) -> dict[str, tuple[str, int]]:
    """A fingerprinted recipient's live copies, for listings (nothing is made here);
    `access` is the caller's `model_access`, decided once per request."""
    files = found.revision.files
    _, copies = recipient_copies(db.session, rt, principal, found.model, files, access)
    return {sha: (c.sha256, c.size) for sha, c in copies.items()}


def file_headers(commit: str, sha256: str, size: int) -> list[tuple[str, str]]:
    """The headers huggingface_hub reads from a resolve (also sent by distserver.fastdoors)."""
    return [
        ("X-Repo-Commit", commit),
        ("X-Linked-Etag", f'"{sha256}"'),
        ("X-Linked-Size", str(size)),
        ("ETag", f'"{sha256}"'),
        ("Cache-Control", "no-store"),
    ]


def _file_headers(response: Response, commit: str, sha256: str, size: int) -> Response:
    for key, value in file_headers(commit, sha256, size):
        response.headers[key] = value
    return response


def _cursor() -> str:
    raw = request.args.get("cursor", "")
    if not raw:
        return ""
    try:
        return base64.urlsafe_b64decode(raw.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("The cursor is not one this server handed out.") from None
