"""The links benchmark still runs end to end (`python -m bench links`): set-up (S3 peer,
PostgreSQL database, migration, seeding, both gunicorns), every phase, the audit check
and the tear-down. The figures themselves are not checked (they depend on the
machine); only that the run completes with exit status 0 and events equal answers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from distserver.config import PROJECT_DIR

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3]

# Short phases and warm-up: only that every phase runs is checked here, not its figures.
SMOKE_RUN = ("--seconds", "1", "--warmup", "0.5", "--users", "20")


@pytest.mark.timeout(900)
def test_the_links_benchmark_runs_and_its_events_match_its_answers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "links", *SMOKE_RUN],
        cwd=PROJECT_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=840,
    )
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    assert done.returncode == 0, (
        f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    pairs = dict(pair.split("=", 1) for pair in last.split())
    assert pairs.get("links_events_match") == "1", last
    assert int(pairs["links_events"]) > 0, last
