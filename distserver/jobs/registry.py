"""The catalogue of background jobs, independent of any app or broker.

A job is declared once, at import, with `@job(...)`; `create_app()` binds every declared
job to that app's broker as a Dramatiq actor that runs inside the app's context. Binding
per app (instead of Dramatiq's module-level `@dramatiq.actor`, which binds to one global
broker) is what lets two apps with two brokers live in one process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Queues, so operators can give mail, webhooks and periodic maintenance their own workers
# (`distserver jobs worker --queue mail`) and read their backlog separately.
MAIL_QUEUE = "mail"
WEBHOOKS_QUEUE = "webhooks"
MAINTENANCE_QUEUE = "maintenance"
# Marked copies of weights files: long jobs (minutes per file), kept apart so they never
# hold up mail or webhooks.
COPIES_QUEUE = "copies"
QUEUES = (MAIL_QUEUE, WEBHOOKS_QUEUE, MAINTENANCE_QUEUE, COPIES_QUEUE)


@dataclass(frozen=True)
class Job:
    """A declared job: its actor name, queue, function and Dramatiq actor options
    (e.g. max_retries, throws). Arguments must be JSON values."""

    name: str
    queue: str
    fn: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)


JOBS: dict[str, Job] = {}


def job(name: str, *, queue: str, **options: Any) -> Callable[[Callable[..., Any]], Job]:
    """Declare `fn` as the job `name` on `queue`."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def declare(fn: Callable[..., Any]) -> Job:
        if name in JOBS:
            raise ValueError(f"a job named {name!r} is already declared")
        JOBS[name] = declared = Job(name, queue, fn, options)
        return declared

    return declare
