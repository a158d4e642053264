"""A fresh `distserver demo` in its own process, as a newcomer starts it, with what it
printed and the environment of its tokens.env (the README's second terminal)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "distserver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Demo:
    url: str
    printed: str
    env: dict[str, str]

    def password(self, email: str) -> str:
        match = re.search(rf"^\s+{re.escape(email)}\s.*password (\S+)", self.printed, re.M)
        assert match, f"the demo printed no password for {email}:\n{self.printed}"
        return match.group(1)

    def totp_code(self, email: str) -> str:
        """The README's second terminal: `distserver users totp-code EMAIL`."""
        done = subprocess.run(
            [str(BIN), "users", "totp-code", email],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        code = done.stdout.strip()
        assert re.fullmatch(r"\d{6}", code), code
        return code


@pytest.fixture
def fresh_demo(tmp_path: Path) -> Iterator[Demo]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    log = tmp_path / "demo.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN), "demo", "--port", str(port), "--dir", str(tmp_path / "demo-instance")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while "Running on" not in log.read_text():
            assert proc.poll() is None, f"the demo exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"the demo did not start:\n{log.read_text()}"
            time.sleep(0.3)
        tokens_env = (tmp_path / "demo-instance" / "tokens.env").read_text()
        exported = dict(
            line.removeprefix("export ").split("=", 1) for line in tokens_env.splitlines()
        )
        yield Demo(url, log.read_text(), {**env, **exported})
    finally:
        proc.terminate()
        proc.wait(timeout=20)
