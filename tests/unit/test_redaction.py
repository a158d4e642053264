"""No access log format can write a credential: every atom gunicorn offers passes
through distserver.redaction (the real gunicorn run is tests/e2e/test_gunicorn_logs.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from gunicorn.glogging import SafeAtoms

from distserver.access_log import RedactingAccessLogger
from distserver.redaction import REDACTED, redact

TOKEN = "dst_" + "A1b2" * 9 + "zz"
SIGNATURE = "f" * 64
PRESIGNED = (
    "https://s3.example.org/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential=AKIAEXAMPLE%2F20260101&X-Amz-Signature={SIGNATURE}"
    "&X-Amz-Security-Token=SESSIONTOKEN&X-Amz-Expires=300"
)
FILES = "/files/.eJwNzDsOAyEMRdG9uI4yeLANzG4M.1j-nu_aG10ZcO_kJKn9uL91fc3k"
SECRETS = (
    TOKEN,
    SIGNATURE,
    "AKIAEXAMPLE",
    "SESSIONTOKEN",
    "eJwNzDsOAy",
    "mailedtoken",
    "OAUTHCODE",
)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (FILES, "/files/[redacted]"),
        (f"{FILES}?download=1", "/files/[redacted]?download=1"),
        ("/reset/mailedtoken.abc", "/reset/[redacted]"),
        ("/verify/mailedtoken.abc", "/verify/[redacted]"),
        (PRESIGNED, "https://s3.example.org/bucket/key?X-Amz-Algorithm=[redacted]&"),
        (PRESIGNED, "X-Amz-Expires=[redacted]"),
        ("/sso/lab/callback?code=OAUTHCODE&state=xyz", "/sso/lab/callback?code=[redacted]"),
        (f"Bearer {TOKEN}", "Bearer dst_[redacted]"),
        ("/api/v1/audit/events?limit=5&cursor=9", "/api/v1/audit/events?limit=5&cursor=9"),
        ("/dl/kkUnjXhSp-w40lLHb8Ob8g", "/dl/kkUnjXhSp-w40lLHb8Ob8g"),
    ],
)
def test_redact_keeps_the_shape_and_drops_the_credential(raw: str, kept: str) -> None:
    clean = redact(raw)
    assert kept in clean
    for secret in SECRETS:
        assert secret not in clean


def test_access_log_with_every_atom_has_no_credential() -> None:
    logger = RedactingAccessLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"{FILES}?{PRESIGNED.split('?', 1)[1]}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": FILES,
        "QUERY_STRING": PRESIGNED.split("?", 1)[1],
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://models.example.org/reset/mailedtoken?token={TOKEN}",
        "HTTP_USER_AGENT": "curl/8",
        "HTTP_AUTHORIZATION": f"Bearer {TOKEN}",
        "HTTP_COOKIE": "session=SESSIONTOKEN",
    }
    request = SimpleNamespace(
        headers=[
            ("AUTHORIZATION", f"Bearer {TOKEN}"),
            ("COOKIE", "session=SESSIONTOKEN"),
            ("X-CSRFTOKEN", "SESSIONTOKEN"),
            ("REFERER", environ["HTTP_REFERER"]),
        ]
    )
    response = SimpleNamespace(
        status="302 FOUND",
        sent=0,
        headers=[("Location", PRESIGNED), ("Set-Cookie", "session=SESSIONTOKEN")],
    )
    atoms = SafeAtoms(logger.atoms(response, request, environ, timedelta(seconds=1)))
    fmt = (
        "%(h)s %(r)s %(U)s %(q)s %(f)s %(a)s %(u)s %({authorization}i)s %({cookie}i)s "
        "%({x-csrftoken}i)s %({referer}i)s %({location}o)s %({set-cookie}o)s "
        "%({http_authorization}e)s %({http_cookie}e)s %({query_string}e)s %({raw_uri}e)s"
    )
    line = fmt % atoms
    assert "/files/[redacted]" in line
    assert REDACTED in line
    for secret in SECRETS:
        assert secret not in line, (secret, line)


def test_app_error_log_has_no_files_token(make_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The app's own log line for a failed request names the path, redacted."""
    from distserver.storage.local import LocalStorage

    def broken(self, token):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk gone")

    app = make_app("sqlite")
    monkeypatch.setattr(LocalStorage, "resolve_token", broken)
    # Alembic's logging set-up (run by the database fixtures) replaces the root
    # handlers and disables existing loggers: listen on the app's logger itself.
    logger = logging.getLogger("distserver")
    monkeypatch.setattr(logger, "disabled", False)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        answer = app.test_client().get(FILES)
    finally:
        logger.removeHandler(handler)
    assert answer.status_code == 500
    assert any("/files/[redacted]" in line for line in lines), lines
    assert not any("eJwNzDsOAy" in line for line in lines), lines
