"""Issue 16: the release console said "0.0 days so far" just after a promotion (and
"14.0" of 14 days while the gate was still unmet). The time spent at a stage now
reads in hours under a day and is never rounded up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from distserver.releases.gates import _soak_requirement

ENTERED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def soak(after: timedelta) -> str:
    return _soak_requirement("research-access", ENTERED, 14, ENTERED + after).text


def test_time_at_a_stage_never_reads_zero_days_nor_rounds_up() -> None:
    assert soak(timedelta(minutes=5)).startswith(
        "14 days at research-access: less than an hour so far, until "
    )
    assert soak(timedelta(hours=1, minutes=59)).startswith(
        "14 days at research-access: 1 hour so far, until "
    )
    assert soak(timedelta(hours=23)).startswith("14 days at research-access: 23 hours so far")
    assert soak(timedelta(days=13, hours=23)).startswith(
        "14 days at research-access: 13.9 days so far, until "
    )
    assert soak(timedelta(days=14)) == "14 days at research-access: 14.0 days so far"
    assert "0.0" not in soak(timedelta(0))
