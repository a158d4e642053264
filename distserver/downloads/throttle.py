"""Anonymous downloads (the public tier) are rate-limited per client address, one
budget shared by every door; counters live in Redis when REDIS_URL is set, so all
workers and hosts share them. Signed-in callers are held by their tier's quota."""

from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address
from flask_login import current_user

from distserver.extensions import limiter


def _anonymous_limit() -> str:
    return str(current_app.config.get("ANONYMOUS_RATE_LIMIT") or "60 per minute")


def _signed_in() -> bool:
    return "Authorization" in request.headers or current_user.is_authenticated


anonymous_downloads = limiter.shared_limit(
    _anonymous_limit,
    scope="anonymous-downloads",
    key_func=get_remote_address,
    exempt_when=_signed_in,
)
