"""A live server on loopback and the real huggingface_hub client pointed at it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from tests.support.world import World

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("hub_client.py")
HF_BIN = Path(sys.executable).with_name("hf")
# Variables that would point the client at another hub, a proxy, or a stored token.
FOREIGN_ENV = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_HUB_OFFLINE",
    "HF_TOKEN_PATH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


class LiveServer:
    """The app served by werkzeug on 127.0.0.1 in a thread (threaded, like a real host)."""

    def __init__(self, app: Flask):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # Links (file links, pagination) name the configured address: this one.
        app.config["EXTERNAL_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


@dataclass
class HubClient:
    """Runs huggingface_hub with HF_ENDPOINT set to the live server, Xet disabled and a
    temporary HF_HOME: each call in a process of its own, forked from one that has
    imported the client with that environment (tests/hf/hub_client.py)."""

    endpoint: str
    home: Path
    _server: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    _stop_server: weakref.finalize[Any, Any] | None = field(default=None, init=False, repr=False)

    def env(self) -> dict[str, str]:
        if not HF_BIN.exists():
            raise AssertionError(
                f"The `hf` command of huggingface_hub is missing at {HF_BIN}; "
                "install the test extras (pip install -e '.[test]')."
            )
        env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
        env.update(
            HF_ENDPOINT=self.endpoint,
            HF_HOME=str(self.home),
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_ETAG_TIMEOUT="30",
            NO_PROXY="127.0.0.1",
            no_proxy="127.0.0.1",
        )
        return env

    @property
    def log(self) -> Path:
        """What the client processes wrote on stderr."""
        return self.home.parent / f"{self.home.name}-client.log"

    def _serving(self) -> subprocess.Popen[str]:
        if self._server is None:
            with self.log.open("a") as log:
                self._server = subprocess.Popen(
                    [sys.executable, str(CLIENT)],
                    env=self.env(),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                    cwd=ROOT,
                )
            # Stopped by close(), or else once this client is garbage.
            self._stop_server = weakref.finalize(self, _stop, self._server)
        return self._server

    def run(self, call: str, repo: str, **kw: Any) -> dict[str, Any]:
        server = self._serving()
        assert server.stdin is not None
        assert server.stdout is not None
        server.stdin.write(json.dumps({"call": call, "repo": repo, **kw}) + "\n")
        server.stdin.flush()
        ready, _, _ = select.select([server.stdout], [], [], 120)
        line = server.stdout.readline() if ready else ""
        answer = json.loads(line) if line else {"crashed": server.poll()}
        assert "crashed" not in answer, (
            f"huggingface_hub client crashed ({answer}):\n{self.log.read_text()[-3000:]}"
        )
        return answer

    def close(self) -> None:
        if self._stop_server is not None:
            self._stop_server()  # a finalizer runs once
        self._server = self._stop_server = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`hf ARGS...` as a researcher types it."""
        return subprocess.run(
            [str(HF_BIN), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.home,
        )


def _stop(server: subprocess.Popen[str]) -> None:
    if server.stdin is not None:
        server.stdin.close()  # the serving process ends at the end of its input
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if server.stdout is not None:
        server.stdout.close()


@dataclass
class Hub:
    """One app on a live server, its seeding helper, and a client pointed at it."""

    app: Flask
    server: LiveServer
    world: World
    client: HubClient
    storage: str
