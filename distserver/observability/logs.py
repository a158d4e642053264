"""Structured logs: one JSON object per line on stderr, for the whole "distserver" logger
tree (the per-request line, the app's warnings, the sealer's notes).

Written here rather than with a logging library: it is one json.dumps per record, and
the redaction below must run on every message whatever library formats it. Credentials
never reach a line: API tokens, presigned query strings and /files/ path tokens in
messages are replaced by "[redacted]" (the request line itself carries only the URL
rule, never the raw path or query).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from flask import g, has_request_context

# The credentials a message could carry: API tokens (dst_ + base62), anything after a
# /files/ segment, and presigned (or any) query strings naming a signature or credential.
SECRET_PATTERNS = (
    re.compile(r"dst_[A-Za-z0-9]{8,}"),
    re.compile(r"(/files/)[^\s\"'?]+"),
    re.compile(r"([?&](?:X-Amz-[A-Za-z-]+|Signature|AWSAccessKeyId|token|Expires)=)[^\s&\"']+"),
    re.compile(r"(session=)[^\s;\"']+"),
)
# One encoder, built once: json.dumps with options builds a new one on every call.
ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)
FIELDS_FROM_RECORD = ("request_id", "route", "method", "status", "duration_ms", "user_id", "client")


def redact(text: str) -> str:
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key in FIELDS_FROM_RECORD:
            value = record.__dict__.get(key)
            if value is not None:
                line[key] = value
        if "request_id" not in line and has_request_context() and "request_id" in g:
            line["request_id"] = g.request_id
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return ENCODER.encode(line)


class TextFormatter(logging.Formatter):
    """For people at a terminal (LOG_FORMAT = "text"), with the same redaction."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self):  # type: ignore[no-untyped-def]
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def write_request_line(logger: logging.Logger, fields: dict[str, Any]) -> None:
    """The per-request line. With the default set-up (our one JSON handler) it is written
    straight to stderr: the logging machinery (record, caller lookup, formatter) costs
    several times the line itself, and the request path counts microseconds. With any
    other handler or format it goes through logging as usual."""
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _direct_json_handler(logger)
    if handler is None:
        logger.info(
            "%s %s %s %.1fms", fields["method"], fields["route"], fields["status"],
            fields["duration_ms"], extra=fields,
        )  # fmt: skip
        return
    line = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": logger.name,
        "msg": f"{fields['method']} {fields['route']} {fields['status']}",
    }
    line.update((k, v) for k, v in fields.items() if v is not None)
    text = ENCODER.encode(line) + "\n"
    with handler.lock:  # type: ignore[union-attr]
        sys.stderr.write(text)


def _direct_json_handler(logger: logging.Logger) -> logging.Handler | None:
    """Our JSON handler when it is the only place the line would go, else None."""
    if logger.handlers or not logger.propagate or logger.parent is None:
        return None
    parent = logger.parent
    if parent.name != "distserver" or len(parent.handlers) != 1 or parent.filters:
        return None
    handler = parent.handlers[0]
    if not getattr(handler, "distserver_handler", False):
        return None
    if not isinstance(handler.formatter, JsonFormatter) or handler.filters:
        return None
    return handler


def configure_logging(log_format: str) -> None:
    """Attach one stderr handler to the "distserver" logger, once per process (several
    apps in one process share it). An operator's own handler on that logger wins."""
    logger = logging.getLogger("distserver")
    if any(getattr(h, "distserver_handler", False) for h in logger.handlers):
        return
    if logger.handlers:
        return
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.distserver_handler = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
