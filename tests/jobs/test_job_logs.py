"""A failing job never writes its arguments to the log: the mail job carries the body,
and a body carries sign-in, verification and reset links (secrets while they live)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distserver.jobs import backlog, failed
from distserver.mail import send_mail
from tests.jobs.support import wait_for

SECRET_LINK = "http://localhost/reset/SECRET-TOKEN-abc123"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the message and any traceback


@contextmanager
def every_log_line() -> Iterator[list[str]]:
    """Every line logged at DEBUG and above by dramatiq and distserver. Enter it after
    the app is made: the migrations run Alembic's fileConfig, which disables existing
    loggers and replaces the root's handlers (pytest's caplog among them). The collector
    hangs on "distserver" too, whose JSON handler may not pass records on to the root."""
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "dramatiq"]
    loggers = [logging.getLogger(n) for n in {*names, "dramatiq", "distserver"}]
    loggers += [
        logging.getLogger(n) for n in logging.root.manager.loggerDict if n.startswith("distserver.")
    ]
    saved = [(lg.disabled, lg.level) for lg in loggers]
    collect = Collect()
    root = logging.getLogger()
    root_level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    # The app's JSON log handler may keep "distserver" records from reaching the root.
    own = logging.getLogger("distserver")
    own.addHandler(collect)
    for lg in loggers:
        lg.disabled = False
        lg.setLevel(logging.NOTSET)
    try:
        yield collect.lines
    finally:
        root.removeHandler(collect)
        own.removeHandler(collect)
        root.setLevel(root_level)
        for lg, (disabled, level) in zip(loggers, saved, strict=True):
            lg.disabled, lg.level = disabled, level


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failing_mail_job_logs_no_mail_body(make_app: Any) -> None:
    app = make_app(
        "sqlite",
        MAIL_BACKEND="smtp",
        MAIL_SMTP_HOST="127.0.0.1",
        MAIL_SMTP_PORT=_closed_port(),  # a real refused connection
        JOBS_MAX_RETRIES=1,
        JOBS_MIN_BACKOFF_MS=20,
        JOBS_MAX_BACKOFF_MS=50,
    )
    with every_log_line() as lines, app.app_context():
        send_mail("rosa@example.org", "Reset your password", f"Follow {SECRET_LINK}\n")
        wait_for(lambda: failed()["mail"] == 1, what="the mail job to fail twice")
        assert backlog()["mail"] == 0
    assert any("not sent" in line for line in lines), lines  # the failure is logged...
    assert not [line for line in lines if "SECRET-TOKEN" in line]  # ...without the body
