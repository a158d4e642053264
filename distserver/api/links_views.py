"""POST /api/v1/models/<ns>/<name>/links: the native door to a download link."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from distserver.accounts.sessions import current_principal
from distserver.api import api_v1
from distserver.api.bodies import read_body
from distserver.api.schemas.catalog import Link, LinkRequest
from distserver.api.schemas.common import PUBLIC, answers
from distserver.api.spec import declare
from distserver.catalog.names import check_names, check_path
from distserver.downloads.doors import link_for_request
from distserver.downloads.fastpath import request_token
from distserver.downloads.signing import IssuedLink
from distserver.downloads.throttle import anonymous_downloads
from distserver.urls import external_base


@api_v1.post("/models/<namespace>/<name>/links")
@declare(
    "downloads",
    answers(201, Link, (400, 401, 403, 404, 413, 429, 503)),
    json=LinkRequest,
    security=PUBLIC,
)
@anonymous_downloads
def create_link(namespace: str, name: str) -> tuple[Response, int]:
    """A short-lived download link for one file (an audited download)."""
    # A well-formed Bearer token on PostgreSQL takes the fast path (downloads/fastpath.py),
    # whose one facts query checks the token; every other caller is authenticated here,
    # before the body is read (a mistyped token is never well formed).
    principal = current_principal() if request_token() is None else None
    check_names(namespace, name)
    body = read_body(LinkRequest)
    path = check_path(body.path)
    link = link_for_request(namespace, name, body.revision, path, door="api", principal=principal)
    return jsonify(link_payload(link)), 201


def link_payload(link: IssuedLink) -> dict[str, Any]:
    """The body of a 201 from this door (also written by distserver.fastdoors)."""
    return {
        "url": link.url,
        "expires_at": link.expires_at.isoformat().replace("+00:00", "Z"),
        "link_id": link.link_id,
        "dl_url": f"{external_base()}/dl/{link.link_id}",
        "size": link.size,
        "sha256": link.sha256,
        "path": link.path,
        "revision": link.commit,
        "tier": link.tier,
    }
