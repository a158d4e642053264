"""The /dl/<link_id> door and the local backend's /files/<token> byte-serving."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, request, send_file
from werkzeug.wrappers import Response as Redirect

from distserver.accounts.sessions import client_address, current_principal
from distserver.app_runtime import current_runtime
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.downloads.fastpath import request_token, reuse_link
from distserver.downloads.services import use_link
from distserver.downloads.throttle import anonymous_downloads
from distserver.errors import NotFound
from distserver.extensions import db
from distserver.storage.local import LocalStorage
from distserver.urls import external_base

downloads = Blueprint("downloads", __name__)


@downloads.get("/dl/<link_id>")
@anonymous_downloads
def follow_link(link_id: str) -> Redirect:
    rt = current_runtime()
    raw = request_token()
    base_url = external_base() + "/"
    link = None
    if raw is not None:  # the fast path (downloads/fastpath.py); None: the full one
        link = reuse_link(
            current_app,
            rt,
            raw,
            link_id,
            base_url=base_url,
            address=client_address(),
            user_agent=request.headers.get("User-Agent"),
        )
    if link is None:
        link = use_link(db.session, rt, current_principal(), link_id, base_url=base_url)
    response = redirect(link.url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


@downloads.get("/files/<token>")
def serve_file(token: str) -> Response:
    storage = current_runtime().storage
    if not isinstance(storage, LocalStorage):
        raise NotFound("This server does not serve bytes itself.", code="not_found")
    obj = storage.resolve_token(token)
    principal = current_principal()
    # One event per serving, Range requests included, so partial fetches are visible too.
    record(
        db.session,
        EventTag.FILE_SERVED,
        principal,
        link_id=obj.link_id,
        data={"key": obj.key, "range": request.headers.get("Range", "")[:100]},
    )
    db.session.commit()
    accel = storage.accel_redirect_path(obj.key)
    if accel:
        response = current_app.response_class(status=200)
        response.headers["X-Accel-Redirect"] = accel
        response.headers["Content-Disposition"] = obj.content_disposition
        return response
    response = send_file(
        obj.path,
        as_attachment=True,
        download_name=obj.filename,
        conditional=True,
        etag=False,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
