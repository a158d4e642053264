"""The publish and snapshot benchmarks still run end to end on a small scale (S3 peer,
PostgreSQL, production settings, gunicorn for snapshot) and print their ratios on the
last line. The figures themselves are not checked: they depend on the machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

from distserver.config import PROJECT_DIR

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3, pytest.mark.hf]


def _last_line(*args: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=PROJECT_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert done.returncode == 0, (
        f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    last = done.stdout.strip().splitlines()[-1]
    return dict(pair.split("=", 1) for pair in last.split())


@pytest.mark.timeout(900)
def test_the_publish_and_snapshot_benchmarks_run_and_report_their_ratios() -> None:
    publish = _last_line("publish", "--megabytes", "24")
    assert float(publish["publish_ratio"]) > 0, publish
    snapshot = _last_line("snapshot", "--files", "5", "--rounds", "1")
    assert "added_ms_per_file" in snapshot, snapshot
    assert float(snapshot["snapshot_s"]) > 0, snapshot
