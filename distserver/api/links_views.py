"""POST /api/v1/models/<ns>/<name>/links: the native door to a download link."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from distserver.accounts.sessions import client_address, current_principal
from distserver.api import api_v1
from distserver.catalog.names import check_names, check_path
from distserver.downloads.fastpath import issue_link, request_token
from distserver.downloads.services import locate, request_link
from distserver.downloads.throttle import anonymous_downloads
from distserver.errors import BadRequest
from distserver.extensions import db
from distserver.runtime import current_runtime

MAX_BODY = 16 * 1024


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if request.content_length and request.content_length > MAX_BODY:
        raise BadRequest(f"The body is larger than {MAX_BODY} bytes.", code="too_large", status=413)
    data = request.get_json(silent=True, force=True)
    if data is None:
        raise BadRequest("The body must be a JSON object.", code="invalid_json")
    if not isinstance(data, dict):
        raise BadRequest(
            "The body must be a JSON object, not a list or a value.", code="invalid_json"
        )
    return data


def string_field(data: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"Field {key!r} must be a string.", code="invalid_field")
    return value


@api_v1.post("/models/<namespace>/<name>/links")
@anonymous_downloads
def create_link(namespace: str, name: str) -> tuple[Response, int]:
    check_names(namespace, name)
    data = json_body()
    path = check_path(string_field(data, "path", required=True) or "")
    revision = string_field(data, "revision", required=False)
    rt = current_runtime()
    raw = request_token()
    link = None
    if raw is not None:  # the fast path (downloads/fastpath.py); None: the full one
        link = issue_link(
            current_app,
            rt,
            raw,
            namespace=namespace,
            name=name,
            rev=revision,
            path=path,
            door="api",
            base_url=request.host_url,
            address=client_address(),
            user_agent=request.headers.get("User-Agent"),
        )
    if link is None:
        principal = current_principal()
        target = locate(db.session, namespace, name, revision, path)
        link = request_link(
            db.session, rt, principal, target, door="api", base_url=request.host_url, path=path
        )
    return jsonify(
        {
            "url": link.url,
            "expires_at": link.expires_at.isoformat().replace("+00:00", "Z"),
            "link_id": link.link_id,
            "dl_url": f"{request.host_url.rstrip('/')}/dl/{link.link_id}",
            "size": link.size,
            "sha256": link.sha256,
            "path": link.path,
            "revision": link.commit,
            "tier": link.tier,
        }
    ), 201
