"""Background jobs on Dramatiq (why Dramatiq: docs/jobs.md).

- `init_jobs(app)` (called by create_app) binds every declared job to the app's broker:
  Redis when REDIS_URL is set (workers: `distserver jobs worker`), otherwise an
  in-process queue with worker threads (the embedded demo, tests, small installs).
- `enqueue_after_commit(job, *args)` is how the application asks for work: the message is
  sent once the current SQLAlchemy transaction commits, never if it rolls back.
- `backlog()` and `failed_count()` are what /metrics reads.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from flask import Flask, current_app
from sqlalchemy.orm import Session, scoped_session

from distserver.jobs.registry import QUEUES, Job, job
from distserver.jobs.runtime import JobRuntime
from distserver.jobs.transactions import hold_until_commit  # installs the session hooks

__all__ = [
    "QUEUES",
    "Job",
    "JobRuntime",
    "backlog",
    "drain",
    "enqueue_after_commit",
    "failed",
    "failed_count",
    "init_jobs",
    "job",
    "job_runtime",
    "log_startup_warnings",
    "stop_jobs",
]

log = logging.getLogger("distserver.jobs")
EXTENSION = "jobs"


def init_jobs(app: Flask) -> JobRuntime:
    """Bind the jobs to `app` (in create_app). Checks the mail settings, since mail is a
    job; starts the in-process schedule when JOBS_INPROCESS_SCHEDULE is on and there is
    no Redis. Production's start-up warnings are logged here, except under a CLI
    command (its stderr is one line); worker processes log them themselves."""
    import distserver.jobs.tasks  # noqa: F401  (declares the jobs)
    from distserver.mail import check_mail_settings
    from distserver.observability.metrics import set_job_stats_reader

    warnings = check_mail_settings(app.config)
    runtime = JobRuntime(app)
    app.extensions[EXTENSION] = runtime
    if app.config.get("ENV") == "production" and runtime.in_process:
        warnings.append(
            "REDIS_URL is not set: background jobs (mail, webhooks, sealing) run in this "
            "process and queued ones are lost when it stops; set REDIS_URL and run "
            "`distserver jobs worker` and `distserver jobs scheduler`"
        )
    runtime.startup_warnings = warnings
    set_job_stats_reader(app, lambda: _job_stats(runtime))
    if click.get_current_context(silent=True) is None:
        log_startup_warnings(app)
    if runtime.in_process and app.config.get("JOBS_INPROCESS_SCHEDULE"):
        from distserver.jobs.schedule import start_in_process_scheduler

        runtime.scheduler = start_in_process_scheduler(app)
    return runtime


def _job_stats(runtime: JobRuntime) -> dict[str, tuple[int, int]]:
    """{queue: (waiting, failed)} for /metrics: two cheap reads of the broker."""
    waiting, dead = runtime.backlog(), runtime.failed()
    return {queue: (waiting.get(queue, 0), dead.get(queue, 0)) for queue in waiting | dead}


def log_startup_warnings(app: Flask) -> None:
    for warning in job_runtime(app).startup_warnings:
        log.warning("%s", warning)


def job_runtime(app: Flask | None = None) -> JobRuntime:
    return (app or current_app).extensions[EXTENSION]


def enqueue_after_commit(
    declared: Job | str, *args: Any, session: Session | scoped_session[Any] | None = None
) -> None:
    """Send `declared(*args)` once `session`'s transaction (default: the app's db.session)
    commits; at once when no transaction is open; never when it rolls back. Arguments
    must be JSON values. See distserver.jobs.transactions for the exact rule."""
    from distserver.extensions import db

    runtime = job_runtime()
    name = declared if isinstance(declared, str) else declared.name
    if name not in runtime.actors:
        raise KeyError(f"no job named {name!r}")

    def send() -> None:
        runtime.send(name, *args)

    hold_until_commit(db.session if session is None else session, send)


def backlog(app: Flask | None = None) -> dict[str, int]:
    """Messages not done yet, per queue (waiting, running, or waiting for a retry)."""
    return job_runtime(app).backlog()


def failed(app: Flask | None = None) -> dict[str, int]:
    """Messages that used up their retries (dead-lettered), per queue."""
    return job_runtime(app).failed()


def failed_count(app: Flask | None = None) -> int:
    """Dead-lettered messages over every queue."""
    return sum(failed(app).values())


def drain(app: Flask | None = None, timeout: float = 30.0) -> None:
    """Development and tests: wait until the in-process jobs that are due have run."""
    job_runtime(app).drain(timeout)


def stop_jobs(app: Flask) -> None:
    """Stop the app's in-process worker and schedule, if they run (tests, demo exit)."""
    runtime = app.extensions.get(EXTENSION)
    if runtime is not None:
        runtime.stop()
