"""Start `distserver jobs worker` and `distserver jobs scheduler` as an operator does,
each its own process with its own log files, and stop them gracefully."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
SCHEDULED = re.compile(r"scheduled (\S+) for the period starting at (\d+)")


@dataclass
class JobProcess:
    process: subprocess.Popen[bytes]
    logs: Path  # stdout.log and stderr.log

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def lines(self) -> list[str]:
        return [
            line
            for name in ("stdout.log", "stderr.log")
            if (self.logs / name).exists()
            for line in (self.logs / name).read_text().splitlines()
        ]

    def scheduled(self, job: str) -> list[int]:
        """The period starts this scheduler enqueued `job` for, from its log."""
        found = (SCHEDULED.search(line) for line in self.lines())
        return [int(m.group(2)) for m in found if m and m.group(1) == job]


def start_jobs(command: str, env: dict[str, str], logs: Path, *args: str) -> JobProcess:
    """`distserver jobs <command> [args]` in the background (cwd: `logs`, an empty folder)."""
    logs.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [str(BIN / "distserver"), "jobs", command, *args],
        cwd=logs,
        env=env,
        stdout=(logs / "stdout.log").open("w"),
        stderr=(logs / "stderr.log").open("w"),
    )
    return JobProcess(process, logs)
