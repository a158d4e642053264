"""`distserver jobs ...`: the worker, the schedule, and the queues' state."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

import click
from flask.cli import with_appcontext

from distserver.errors import ConfigError
from distserver.jobs.registry import QUEUES

WORKER_MODULE = "distserver.jobs.worker_process:broker"
NEEDS_REDIS = (
    "`distserver jobs {command}` needs a shared queue: set DISTSERVER_REDIS_URL "
    "(without it, jobs run inside the app's own process)"
)


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs: workers, the periodic schedule, the queues' state."""


@jobs_group.command("worker")
@click.option(
    "--processes",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes [JOBS_WORKER_PROCESSES].",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Threads per process [JOBS_WORKER_THREADS].",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(QUEUES),
    help="Only these queues (repeatable; default: all).",
)
def worker(processes: int | None, threads: int | None, queues: tuple[str, ...]) -> None:
    """Run jobs from the Redis queue until stopped (SIGTERM or Ctrl-C: finish, then exit)."""
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from distserver.config import load_settings

    settings = load_settings()
    if not settings.get("REDIS_URL"):
        raise ConfigError(NEEDS_REDIS.format(command="worker"))
    processes = processes or int(settings.get("JOBS_WORKER_PROCESSES") or 1)
    threads = threads or int(settings.get("JOBS_WORKER_THREADS") or 1)
    argv = [WORKER_MODULE, "--processes", str(processes), "--threads", str(threads)]
    if queues:
        argv += ["--queues", *queues]
    # Dramatiq's supervisor: starts the processes, forwards signals, restarts none.
    sys.exit(dramatiq_main(make_argument_parser().parse_args(argv)))


@jobs_group.command("scheduler")
@click.option("--once", is_flag=True, help="Enqueue what is due now, then exit.")
@with_appcontext
def scheduler(once: bool) -> None:
    """Enqueue the periodic jobs, once per period across every scheduler (Redis lock)."""
    from distserver.jobs import job_runtime
    from distserver.jobs.schedule import Scheduler, redis_claim

    runtime = job_runtime()
    if runtime.in_process:
        raise ConfigError(NEEDS_REDIS.format(command="scheduler"))
    schedule = Scheduler(runtime, redis_claim(runtime))
    if once:
        for name in schedule.run_once():
            click.echo(f"enqueued {name}")
        return
    if not logging.getLogger().handlers:  # say what is enqueued, unless logging is set up
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    every = ", ".join(f"{n} every {p} s" for n, p in schedule.periods.items()) or "nothing"
    click.echo(f"schedule: {every}", err=True)
    schedule.run(stopping)


@jobs_group.command("status")
@with_appcontext
def status() -> None:
    """Per queue: messages not done yet, and messages that failed every retry."""
    from distserver.jobs import backlog, failed

    waiting, dead = backlog(), failed()
    click.echo("queue\tbacklog\tfailed")
    for queue in QUEUES:
        click.echo(f"{queue}\t{waiting.get(queue, 0)}\t{dead.get(queue, 0)}")
