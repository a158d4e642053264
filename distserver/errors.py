"""The exception hierarchy every domain raises; `distserver.api.errors` maps it to HTTP
in one place. Each carries a machine-readable code and a sentence for people."""

from __future__ import annotations


class ConfigError(Exception):
    """Start-up refused: the message says which file or setting to fix."""


class DistserverError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class BadRequest(DistserverError):
    status = 400
    code = "bad_request"


class Unauthorized(DistserverError):
    status = 401
    code = "unauthorized"


class Forbidden(DistserverError):
    status = 403
    code = "forbidden"


class NotFound(DistserverError):
    status = 404
    code = "not_found"


class Conflict(DistserverError):
    status = 409
    code = "conflict"


class TooLarge(DistserverError):
    status = 413
    code = "too_large"


class RateLimited(DistserverError):
    status = 429
    code = "rate_limited"


class Unavailable(DistserverError):
    status = 503
    code = "unavailable"
