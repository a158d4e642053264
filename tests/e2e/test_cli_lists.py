"""Issue 16's command-line parts, in a subprocess as a user types them: the demo's
`users totp-code` (development only) and the list commands (`--json`, empty lists
say so)."""

from __future__ import annotations

import subprocess

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
