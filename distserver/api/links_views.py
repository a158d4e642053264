"""POST /api/v1/models/<ns>/<name>/links: the native door to a download link."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from distserver.accounts.sessions import current_principal
from distserver.api import api_v1
from distserver.catalog.names import check_names, check_path
from distserver.downloads.doors import link_for_request
from distserver.downloads.fastpath import request_token
from distserver.downloads.signing import IssuedLink
from distserver.downloads.throttle import anonymous_downloads
from distserver.errors import BadRequest
from distserver.inputs import parse_json_body
from distserver.urls import external_base

MAX_BODY = 16 * 1024


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it; 413 over
    MAX_BODY bytes, chunked bodies included. Call it after authenticating."""
    too_large = BadRequest(
        f"The body is larger than {MAX_BODY} bytes.", code="too_large", status=413
    )
    if request.content_length and request.content_length > MAX_BODY:
        raise too_large
    # Caps a chunked body too: one byte over the cap is enough to know (a stream
    # opened before this call keeps the app's MAX_CONTENT_LENGTH).
    request.max_content_length = MAX_BODY + 1
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY:
        raise too_large
    data = parse_json_body(raw) if raw.strip() else None
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
    # A well-formed Bearer token on PostgreSQL takes the fast path (downloads/fastpath.py),
    # whose one facts query checks the token; every other caller is authenticated here,
    # before the body is read (a mistyped token is never well formed).
    principal = current_principal() if request_token() is None else None
    check_names(namespace, name)
    data = json_body()
    path = check_path(string_field(data, "path", required=True) or "")
    revision = string_field(data, "revision", required=False)
    link = link_for_request(namespace, name, revision, path, door="api", principal=principal)
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
