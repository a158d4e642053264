"""Start the app under gunicorn as production does (docker/gunicorn.conf.py, wsgi:app)
on a loopback port, and wait until it answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from distserver.config import PROJECT_DIR

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveGunicorn:
    process: subprocess.Popen[bytes]
    port: int
    logs: Path  # stdout.log (access log) and stderr.log (app and gunicorn logs)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_gunicorn(
    env: dict[str, str], logs: Path, *, workers: int = 1, port: int | None = None
) -> LiveGunicorn:
    """`port`: a free port chosen beforehand, when the settings must name it (EXTERNAL_URL)."""
    port = port or free_port()
    logs.mkdir(parents=True, exist_ok=True)
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(workers)}
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "docker/gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=(logs / "stdout.log").open("w"),
        stderr=(logs / "stderr.log").open("w"),
    )
    server = LiveGunicorn(process, port, logs)
    http = requests.Session()
    http.trust_env = False
    deadline = time.monotonic() + 90
    while True:
        try:
            if http.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                return server
        except requests.RequestException:  # not listening yet, or workers still loading
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(
                f"gunicorn on port {port} did not answer /healthz in 90 s: "
                + (logs / "stderr.log").read_text()[-3000:]
            )
        time.sleep(0.25)
