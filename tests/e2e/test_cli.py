"""The `distserver` command as a user types it, in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.production import production_env

BIN = Path(sys.executable).parent / "distserver"


@pytest.fixture
def cli(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        **production_env(tmp_path / "keys"),
        "DISTSERVER_INSTANCE_DIR": str(tmp_path / "instance"),
        "DISTSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
        )

    assert run("db", "upgrade").returncode == 0
    return run


def test_a_lab_publishes_and_grants_from_the_command_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert (
        cli("users", "create", "lead@lab.org", "--role", "admin", "--role", "safety").returncode
        == 0
    )
    r = cli("users", "create", "ann@uni.edu", "--password-stdin", stdin="a long enough password\n")
    assert r.returncode == 0, r.stderr
    token = cli("tokens", "create", "ann@uni.edu", "--name", "laptop", "--expires-days", "30")
    assert token.returncode == 0
    assert re.fullmatch(r"dst_[0-9A-Za-z]{38}\n", token.stdout)
    assert cli("models", "create", "acme/llm", "--title", "LLM").returncode == 0
    src = tmp_path / "weights"
    (src / "sub").mkdir(parents=True)
    (src / "model.safetensors").write_bytes(os.urandom(300_000))
    (src / "sub" / "config.json").write_text("{}")
    pub = cli(
        "models", "publish", "acme/llm", str(src), "--message", "first", "--as", "lead@lab.org"
    )
    assert pub.returncode == 0, pub.stderr
    assert re.fullmatch(r"[0-9a-f]{40}\n", pub.stdout), pub.stdout
    again = cli("models", "publish", "acme/llm", str(src), "--as", "lead@lab.org")
    assert again.returncode == 1
    assert again.stderr.startswith("error: Nothing changed")
    grant = cli("grants", "add", "ann@uni.edu", "acme/llm", "--tier", "researcher", "--days", "30")
    assert grant.returncode == 0, grant.stderr
    status = cli("releases", "status", "acme/llm")
    assert status.returncode == 0
    assert "internal" in status.stdout
    assert (
        cli("grants", "revoke", "ann@uni.edu", "acme/llm", "--tier", "researcher").returncode == 0
    )
    # Staff without a second factor may not halt in their own name...
    named = cli("releases", "halt", "acme/llm", "--reason", "drill", "--as", "lead@lab.org")
    assert named.returncode == 1
    assert "need a second factor" in named.stderr
    # ...while the operator at the server's shell can always stop distribution.
    halt = cli("releases", "halt", "acme/llm", "--reason", "drill")
    assert halt.returncode == 0, halt.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("users", "create", "not-an-email"), "is not an e-mail address"),
        (("models", "create", "no-slash"), "is not NAMESPACE/NAME"),
        (("models", "create", "acme/llm", "--plan", "nope"), "No plan 'nope'"),
        (("grants", "add", "ghost@x.org", "acme/llm", "--tier", "researcher"), "No model acme/llm"),
        (("tokens", "create", "ghost@x.org", "--name", "n"), "No user"),
    ],
)
def test_refusals_exit_1_with_one_line(cli, args, says) -> None:  # type: ignore[no-untyped-def]
    r = cli(*args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert says in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_usage_exits_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("users", "create").returncode == 2
    assert cli("grants", "add", "a@b.org", "acme/llm").returncode == 2


def test_symlinks_leaving_the_directory_are_refused(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("models", "create", "acme/llm")
    src = tmp_path / "w"
    src.mkdir()
    (src / "ok.bin").write_bytes(b"1")
    (src / "escape").symlink_to("/etc/hostname")
    r = cli("models", "publish", "acme/llm", str(src))
    assert r.returncode == 1
    assert "symlink that leaves" in r.stderr


def test_production_refuses_a_missing_secret(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update({"DISTSERVER_ENV": "production", "DISTSERVER_INSTANCE_DIR": str(tmp_path)})
    r = subprocess.run(
        [str(BIN), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1
    assert "DISTSERVER_SECRET_KEY" in r.stderr
