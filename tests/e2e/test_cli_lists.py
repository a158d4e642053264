"""Issue 16's command-line parts, in a subprocess as a user types them: the demo's
`users totp-code` (development only) and the list commands (`--json`, empty lists
say so)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.test_cli import cli  # noqa: F401  (the fixture: a production instance)


def test_totp_code_is_refused_outside_development_with_a_sentence(cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert cli("users", "create", "lead@lab.org", "--role", "safety").returncode == 0
    done: subprocess.CompletedProcess[str] = cli("users", "totp-code", "lead@lab.org")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: totp-code works in development only (the demo); elsewhere the code comes "
        "from the user's own authenticator app."
    ]


def test_models_publish_tag_names_the_revision_once(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert cli("models", "create", "acme/llm").returncode == 0
    src = tmp_path / "weights"
    src.mkdir()
    (src / "config.json").write_text("{}")
    first = cli("models", "publish", "acme/llm", str(src), "--tag", "v1.0")
    assert first.returncode == 0, first.stderr
    (src / "config.json").write_text('{"v": 2}')
    again = cli("models", "publish", "acme/llm", str(src), "--tag", "v1.0")
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        "error: acme/llm already has a tag 'v1.0'; tags are never moved."
    ]
    looks_like_commit = cli("models", "publish", "acme/llm", str(src), "--tag", "abc1234")
    assert looks_like_commit.returncode == 1
    assert "would read as a commit id" in looks_like_commit.stderr
