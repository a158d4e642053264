"""gunicorn's access log without credentials (docker/gunicorn.conf.py names it as
`logger_class`): every atom an access_log_format may use (request line, path, query,
referer, request and response headers, environ) passes through
`distserver.redaction` before the line is written, so no format choice can log a
`/files/<token>`, a presigned signature or an API token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from distserver.redaction import REDACTED, redact, sensitive_header


def redact_atoms(atoms: dict[str, Any]) -> dict[str, Any]:
    """The atoms of one access log line, credentials replaced."""
    clean: dict[str, Any] = {}
    for name, value in atoms.items():
        if name.startswith("{") and sensitive_header(name[1:].rsplit("}", 1)[0]):
            clean[name] = REDACTED
        elif isinstance(value, str):
            clean[name] = redact(value)
        else:
            clean[name] = value
    return clean


class RedactingAccessLogger(Logger):
    """gunicorn's Logger, with `redact_atoms` applied to every access log line."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: timedelta) -> dict[str, Any]:
        return redact_atoms(super().atoms(resp, req, environ, request_time))
