"""CPU time of a gunicorn's workers, read from /proc (Linux): what a request costs the
server whatever else shares the machine. A benchmark phase's CPU per answer is the
workers' user + system time spent during the phase divided by its answers; on a
busy shared machine it drifts much less than requests per second do."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    found: list[int] = []
    tasks = Path(f"/proc/{pid}/task")
    try:
        for task in tasks.iterdir():
            text = (task / "children").read_text()
            found.extend(int(p) for p in text.split())
    except OSError:
        return []
    return found


def _ticks(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: count fields after its ")".
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def process_ticks(pids: list[int]) -> dict[int, int]:
    """{pid: user + system clock ticks so far} for those of `pids` still running."""
    ticks = {}
    for pid in pids:
        t = _ticks(pid)
        if t is not None:
            ticks[pid] = t
    return ticks


def worker_ticks(master: int) -> dict[int, int]:
    """{worker pid: user + system clock ticks so far} for a gunicorn master's workers."""
    ticks = {}
    for pid in _children(master):
        t = _ticks(pid)
        if t is not None:
            ticks[pid] = t
    return ticks


def seconds_between(before: dict[int, int], after: dict[int, int]) -> float:
    """Worker CPU seconds spent between two `worker_ticks` readings (a worker that
    started in between counts from zero; one that died in between is lost)."""
    total = sum(t - before.get(pid, 0) for pid, t in after.items())
    return total / TICKS
