"""Done-when 3c: mail is never sent inside a request. The request completes and nothing
is in the outbox until a worker runs the mail job; then the message is there, once.
Also the start-up rules of MAIL_BACKEND in production."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from distserver import create_app
from distserver.errors import ConfigError
from distserver.jobs import backlog
from distserver.mail import read_outbox, send_mail
from tests.accounts.helpers import PASSWORD, csrf
from tests.jobs.support import running_worker, wait_for
from tests.support.production import production_env
from tests.support.redis_namespace import redis_settings


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_mail_is_never_sent_inside_a_request(make_app: Any, backend: str) -> None:
    with redis_settings() as settings:
        app = make_app(backend, **settings)
        client = app.test_client()
        form = {"email": "rosa@example.org", "password": PASSWORD, "confirm": PASSWORD}
        response = client.post("/register", data={"csrf_token": csrf(client, "/register"), **form})
        assert response.status_code == 302, response.get_data(as_text=True)
        with app.app_context():
            assert read_outbox() == []  # the request is over; the mail only waits in the queue
            assert backlog()["mail"] == 1
            with running_worker(app):
                (mail,) = wait_for(read_outbox, what="the verification mail")
            assert mail["to"] == "rosa@example.org"
            assert re.search(r"http://localhost/verify/\S+", mail["body"])
            assert backlog()["mail"] == 0


def _production(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    keys = {k.removeprefix("DISTSERVER_"): v for k, v in production_env(tmp_path / "k").items()}
    return {**keys, "INSTANCE_DIR": str(tmp_path / "i"), **settings}


def test_production_refuses_smtp_without_a_host(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAIL_SMTP_HOST is empty"):
        create_app(_production(tmp_path, MAIL_BACKEND="smtp"))
    with pytest.raises(ConfigError, match="use 'smtp' or 'outbox'"):
        create_app(_production(tmp_path, MAIL_BACKEND="pigeon"))
    app = create_app(_production(tmp_path, MAIL_BACKEND="smtp", MAIL_SMTP_HOST="127.0.0.1"))
    assert app.config["MAIL_BACKEND"] == "smtp"


def test_production_with_the_outbox_says_so_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("distserver.jobs")
    # Alembic's fileConfig (migrations/env.py) disables every existing logger when an
    # earlier test ran the migrations in this process; this test is about our warning.
    disabled, logger.disabled = logger.disabled, False
    try:
        with caplog.at_level(logging.WARNING, logger="distserver.jobs"):
            create_app(_production(tmp_path, MAIL_BACKEND="outbox"))
    finally:
        logger.disabled = disabled
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no mail is sent" in w and "outbox" in w for w in warnings), warnings


def test_two_apps_in_one_process_each_run_their_own_jobs(make_app: Any) -> None:
    first, second = make_app("sqlite"), make_app("sqlite")
    with first.app_context():
        send_mail("a@example.org", "from the first app", "body")
    with second.app_context():
        send_mail("b@example.org", "from the second app", "body")
        assert [m["subject"] for m in read_outbox()] == ["from the second app"]
    with first.app_context():
        assert [m["subject"] for m in read_outbox()] == ["from the first app"]
    assert first.extensions["jobs"].broker is not second.extensions["jobs"].broker
