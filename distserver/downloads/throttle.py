"""Anonymous downloads (the public tier) are rate-limited per client address, one
budget shared by every door that hands out a link (the links API, the Hugging Face
resolve, /dl/ reuse and the web download button); counters live in Redis when
REDIS_URL is set, so all workers and hosts share them. Signed-in callers (a session,
or a real Bearer token) are held by their tier's quota."""

from __future__ import annotations

from flask import current_app
from flask_limiter.util import get_remote_address
from flask_login import current_user

from distserver.accounts.sessions import bearer_token_sent
from distserver.extensions import limiter


def _anonymous_limit() -> str:
    return str(current_app.config.get("ANONYMOUS_RATE_LIMIT") or "60 per minute")


def _signed_in() -> bool:
    # A request with a Bearer token is authenticated by the door (a bad token is a
    # 401 there, before any link); an empty Authorization header is no token.
    return bearer_token_sent() or current_user.is_authenticated


anonymous_downloads = limiter.shared_limit(
    _anonymous_limit,
    scope="anonymous-downloads",
    key_func=get_remote_address,
    exempt_when=_signed_in,
)
