"""`distserver jobs worker`, as compose runs it: a separate process that takes jobs
from Redis for the same database, runs the mail and sealing jobs the app enqueued, and
stops cleanly on SIGTERM. Without REDIS_URL it refuses with one sentence."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from distserver.accounts.services import create_user
from distserver.audit.models import AuditSeal
from distserver.extensions import db
from distserver.jobs import backlog, enqueue_after_commit
from distserver.jobs.tasks import seal_audit_log
from distserver.mail import read_outbox, send_mail
from tests.jobs.support import wait_for, worker_env
from tests.support.redis_namespace import redis_settings

COMMAND = [sys.executable, "-m", "distserver.cli", "jobs", "worker"]


def test_the_worker_process_runs_the_apps_jobs_and_stops_on_sigterm(
    make_app: Any, tmp_path: Path
) -> None:
    with redis_settings() as settings:
        app = make_app("postgres", **settings)
        env = worker_env(app, settings)
        worker = subprocess.Popen(
            [*COMMAND, "--processes", "1", "--threads", "2"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            with app.app_context():
                create_user(db.session, "alice@example.org", roles=(), password=None)
                send_mail("alice@example.org", "hello from a worker", "body")
                enqueue_after_commit(seal_audit_log)
                (mail,) = wait_for(read_outbox, timeout=60, what="the worker's mail")
                assert mail["subject"] == "hello from a worker"

                def sealed() -> int:
                    db.session.rollback()
                    return db.session.scalar(db.select(db.func.count()).select_from(AuditSeal))

                assert wait_for(sealed, timeout=60, what="the sealing job") >= 1
                assert wait_for(lambda: sum(backlog().values()) == 0, what="empty queues")
        finally:
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=60)[0]
        assert worker.returncode == 0, output


def test_the_worker_needs_redis(tmp_path: Path) -> None:
    env = {**os.environ, "DISTSERVER_ENV": "testing", "DISTSERVER_REDIS_URL": ""}
    done = subprocess.run(COMMAND, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: `distserver jobs worker` needs a shared queue")
    assert "Traceback" not in done.stderr


def test_status_prints_backlog_and_failures_per_queue(make_app: Any) -> None:
    from distserver.cli import main

    app = make_app("sqlite")
    with app.app_context():
        send_mail("a@example.org", "queued", "body")
        read_outbox()  # runs it
    result = app.test_cli_runner().invoke(main, ["jobs", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "queue\tbacklog\tfailed",
        "mail\t0\t0",
        "webhooks\t0\t0",
        "maintenance\t0\t0",
        "copies\t0\t0",
    ]
