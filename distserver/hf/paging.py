"""Offset pages for the door's listings (commits, models), linked the way the Hub
links its pages: a `Link: <...>; rel="next"` header with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from flask import Response, request

from distserver.errors import BadRequest


def flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def page_offset() -> int:
    raw = request.args.get("cursor", "")
    if not raw:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(raw.encode()).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        offset = -1
    if offset < 0:
        raise BadRequest("The cursor is not one this server handed out.", code="invalid_cursor")
    return offset


def link_next(response: Response, offset: int) -> None:
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "cursor"]
    query.append(("cursor", base64.urlsafe_b64encode(str(offset).encode()).decode()))
    response.headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
