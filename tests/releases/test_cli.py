"""`distserver releases ...` as a user types it: status lists each requirement met or
unmet, promote refuses with exit 1 and every unmet requirement on one stderr line."""

from __future__ import annotations

from flask import Flask

from distserver.cli import main
from distserver.extensions import db
from distserver.releases.gates import main_revision
from tests.support.world import World


def test_release_commands(app: Flask, world: World) -> None:
    model = world.model("acme/cli", stage=None)
    for email in ("eve", "s1", "s2"):
        world.person(f"{email}@example.org", roles=("safety",))
    world.person("boss@example.org", roles=("admin",))
    cli = app.test_cli_runner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return cli.invoke(main, ["releases", *args])

    revision = main_revision(db.session, model)
    assert revision is not None
    status = run("status", "acme/cli")
    assert status.exit_code == 0
    assert status.output.splitlines() == [
        "acme/cli: stage internal",
        "tiers admitted: none (staff only)",
        f"next stage: partner-preview (gate not met; revision {revision.commit})",
        "  [unmet] evaluation red-team: no result",
        "  [unmet] evaluation dangerous-capabilities: no result",
        "  [unmet] sign-offs from safety staff: 0 of 2",
    ]
    refused = run("promote", "acme/cli", "--as", "boss@example.org")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "error: Promotion of acme/cli to partner-preview refused: evaluation red-team: "
        "no result; evaluation dangerous-capabilities: no result; "
        "sign-offs from safety staff: 0 of 2.\n"
    )
    for name in ("red-team", "dangerous-capabilities"):
        r = run("evaluate", "acme/cli", "--name", name, "--result", "pass", "--report", "R-1",
                "--as", "eve@example.org")  # fmt: skip
        assert r.exit_code == 0, r.output
    assert run("signoff", "acme/cli", "--as", "eve@example.org").exit_code == 1
    assert run("signoff", "acme/cli", "--note", "fine", "--as", "s1@example.org").exit_code == 0
    assert run("signoff", "acme/cli", "--as", "s2@example.org").exit_code == 0
    assert "[met] sign-offs from safety staff: 2 of 2" in run("status", "acme/cli").output
    assert run("promote", "acme/cli").exit_code == 1  # a person must promote
    promoted = run("promote", "acme/cli", "--as", "boss@example.org")
    assert promoted.exit_code == 0
    assert promoted.output == "promoted acme/cli: internal -> partner-preview\n"
    assert run("status", "acme/cli").output.startswith("acme/cli: stage partner-preview\n")
    demoted = run("demote", "acme/cli", "--as", "s1@example.org")
    assert demoted.output == "demoted acme/cli to internal\n"
    assert run("evaluate", "acme/cli", "--name", "x", "--result", "maybe", "--report", "R")\
        .exit_code == 2  # fmt: skip
