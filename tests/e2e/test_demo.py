"""The README's tour, as a newcomer pastes it: `distserver demo`, then curl."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "distserver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the demo exited: {proc.stdout.read() if proc.stdout else ''}"
        r = subprocess.run(["curl", "-sf", url], capture_output=True, check=False)
        if r.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"the demo did not answer at {url} within {seconds} s")


def test_the_tour_works_as_printed(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    proc = subprocess.Popen(
        [str(BIN), "demo", "--port", str(port), "--dir", str(tmp_path / "demo-instance")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        tokens = dict(
            line.removeprefix("export ").split("=", 1)
            for line in (tmp_path / "demo-instance" / "tokens.env").read_text().splitlines()
        )
        tour = (
            'curl -s -X POST -H "Authorization: Bearer $RESEARCHER_TOKEN" '
            '-d \'{"path": "model.safetensors"}\' '
            "$DISTSERVER_URL/api/v1/models/acme/tiny-llm/links"
        )
        out = subprocess.run(
            ["bash", "-c", tour], env={**env, **tokens}, capture_output=True, text=True, check=True
        )
        link = json.loads(out.stdout)
        target = tmp_path / "model.safetensors"
        subprocess.run(["curl", "-sfL", "-o", str(target), link["url"]], check=True)
        assert hashlib.sha256(target.read_bytes()).hexdigest() == link["sha256"]

        def detail(*auth: str) -> dict:
            answer = subprocess.run(
                ["curl", "-s", *auth, f"http://127.0.0.1:{port}/api/v1/models/acme/tiny-llm"],
                capture_output=True,
                text=True,
                check=True,
            )
            return json.loads(answer.stdout)

        # The file list is shown to those the stage admits, as the README's tour asks.
        researcher = detail("-H", f"Authorization: Bearer {tokens['RESEARCHER_TOKEN']}")
        catalog = {f["path"]: f["sha256"] for f in researcher["files"]}
        assert catalog["model.safetensors"] == link["sha256"]
        assert detail()["files"] == []
        anon = subprocess.run(
            ["bash", "-c", tour.replace('-H "Authorization: Bearer $RESEARCHER_TOKEN" ', "")],
            env={**env, **tokens},
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(anon.stdout)["error"]["code"] == "login_required"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    printed = proc.stdout.read() if proc.stdout else ""
    assert "researcher@example.org" in printed
    assert f"127.0.0.1:{port}" in printed
