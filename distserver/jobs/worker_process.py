"""Imported by every worker process that `distserver jobs worker` starts (Dramatiq's own
process supervisor imports `distserver.jobs.worker_process:broker`): builds the app from
the environment's settings, exactly as the web processes do, and exposes its broker, to
which every job is bound."""

from __future__ import annotations

from distserver import create_app
from distserver.jobs import job_runtime, log_startup_warnings

app = create_app()
log_startup_warnings(app)  # create_app keeps quiet under the CLI that started us
broker = job_runtime(app).broker
