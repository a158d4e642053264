"""Done-when 3b: a job is sent only once the transaction that asked for it commits; a
rolled-back transaction (or savepoint), or one closed without a commit, never runs its
job. Observed through the mail job and the outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from flask import Flask

from distserver.access.models import Webhook
from distserver.extensions import db
from distserver.jobs import backlog, drain, enqueue_after_commit
from distserver.jobs.tasks import send_mail as mail_job
from distserver.mail import read_outbox, seal_message, send_mail


def _write(n: int) -> None:
    """Any write in the current transaction."""
    db.session.add(Webhook(url=f"http://127.0.0.1:9/{n}", secret="s", events="*"))
    db.session.flush()


def _subjects() -> list[str]:
    return [m["subject"] for m in read_outbox()]


def test_a_job_whose_transaction_rolled_back_is_never_run(app: Flask) -> None:
    _write(1)
    send_mail("a@example.org", "rolled back", "never sent")
    enqueue_after_commit(mail_job, seal_message("a@example.org", "rolled back too", "never"))
    drain()
    assert _subjects() == []  # held: the transaction has not committed yet
    db.session.rollback()
    drain()
    assert _subjects() == []
    assert backlog()["mail"] == 0
    db.session.commit()  # a later commit does not resurrect them
    drain()
    assert _subjects() == []

    _write(2)
    send_mail("a@example.org", "committed", "sent once")
    db.session.commit()
    assert _subjects() == ["committed"]


def test_a_rolled_back_savepoint_drops_only_its_own_jobs(app: Flask) -> None:
    _write(1)
    send_mail("a@example.org", "outer", "sent")

    def roll_back_a_savepoint() -> None:
        with db.session.begin_nested():
            _write(2)
            send_mail("a@example.org", "inner, rolled back", "never sent")
            raise RuntimeError("undo the savepoint")

    with pytest.raises(RuntimeError, match="undo the savepoint"):
        roll_back_a_savepoint()
    with db.session.begin_nested():
        _write(3)
        send_mail("a@example.org", "inner, released", "sent with the outer commit")
    drain()
    assert _subjects() == []
    db.session.commit()
    assert sorted(_subjects()) == ["inner, released", "outer"]


def test_a_transaction_closed_without_commit_never_runs_its_job(app: Flask) -> None:
    _write(1)
    send_mail("a@example.org", "closed", "never sent")
    db.session.close()  # what the end of a request does to an uncommitted session
    assert _subjects() == []


def test_a_job_asked_for_after_the_commit_is_sent_at_once(app: Flask) -> None:
    _write(1)
    db.session.commit()
    db.session.scalar(db.select(Webhook.id))  # a read opens a new transaction
    send_mail("a@example.org", "after commit", "sent")
    assert _subjects() == ["after commit"]
