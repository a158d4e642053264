"""A live server on loopback and the real huggingface_hub client pointed at it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
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
    """Runs huggingface_hub in a fresh process per call, with HF_ENDPOINT set to the
    live server, Xet disabled and a temporary HF_HOME."""

    endpoint: str
    home: Path

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

    def run(self, call: str, repo: str, **kw: Any) -> dict[str, Any]:
        args = json.dumps({"call": call, "repo": repo, **kw})
        done = subprocess.run(
            [sys.executable, str(CLIENT), args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        lines = done.stdout.strip().splitlines()
        assert done.returncode == 0, (
            f"huggingface_hub client crashed:\n{done.stdout}\n{done.stderr}"
        )
        assert lines, f"huggingface_hub client crashed:\n{done.stdout}\n{done.stderr}"
        return json.loads(lines[-1])

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


@dataclass
class Hub:
    """One app on a live server, its seeding helper, and a client pointed at it."""

    app: Flask
    server: LiveServer
    world: World
    client: HubClient
    storage: str
