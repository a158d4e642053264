"""Issue 16's CLI completeness: `models list`, `users list`, `grants list`, `tokens
list`, `tokens revoke`, `orgs list` (and the existing `applications list` and
`webhooks list`): a line saying so when the list is empty, `--json` on every one."""

from __future__ import annotations

import json

from distserver.cli import main
from distserver.extensions import db
from tests.support.world import World

LISTS = (
    (["models", "list"], "No models yet"),
    (["users", "list"], "No users match."),
    (["grants", "list"], "No active grants match"),
    (["orgs", "list"], "No organisations yet."),
    (["applications", "list"], "No applications with status pending."),
    (["webhooks", "list"], "No webhooks yet"),
)


def test_every_list_says_when_it_is_empty_and_prints_json(app) -> None:  # type: ignore[no-untyped-def]
    cli = app.test_cli_runner()
    for args, sentence in LISTS:
        empty = cli.invoke(main, args)
        assert empty.exit_code == 0, (args, empty.output)
        assert empty.output.startswith(sentence), (args, empty.output)
        as_json = cli.invoke(main, [*args, "--json"])
        assert as_json.exit_code == 0, (args, as_json.output)
        assert json.loads(as_json.output) == [], (args, as_json.output)


def test_lists_show_what_there_is(app, world: World) -> None:  # type: ignore[no-untyped-def]
    cli = app.test_cli_runner()
    world.model("acme/llm", stage="research-access")
    world.person("rev@example.org", roles=("reviewer",))
    world.person("ann@uni.edu", tiers=("researcher",))
    assert cli.invoke(main, ["orgs", "create", "lab", "--name", "Partner Lab"]).exit_code == 0

    models = json.loads(cli.invoke(main, ["models", "list", "--json"]).output)
    assert [(m["id"], m["stage"], m["halted"]) for m in models] == [
        ("acme/llm", "research-access", False)
    ]
    assert cli.invoke(main, ["models", "list"]).output.startswith("acme/llm\t")

    users = json.loads(cli.invoke(main, ["users", "list", "--json"]).output)
    assert [(u["email"], u["roles"]) for u in users] == [
        ("ann@uni.edu", []),
        ("rev@example.org", ["reviewer"]),
    ]
    staff = cli.invoke(main, ["users", "list", "--role", "reviewer"]).output
    assert staff.startswith("rev@example.org\treviewer\tno\tyes\t")
    assert cli.invoke(main, ["users", "list", "--search", "uni"]).output.startswith("ann@")

    grants = json.loads(cli.invoke(main, ["grants", "list", "--json"]).output)
    assert [(g["user"], g["tier"], g["model"], g["status"]) for g in grants] == [
        ("ann@uni.edu", "researcher", "*", "active")
    ]
    assert cli.invoke(main, ["grants", "list", "--user", "rev@example.org"]).output.startswith(
        "No active grants"
    )

    orgs = json.loads(cli.invoke(main, ["orgs", "list", "--json"]).output)
    assert orgs == [{"slug": "lab", "name": "Partner Lab", "tier": "vetted_partner", "members": 0}]


def test_tokens_list_and_revoke(app, client, world: World) -> None:  # type: ignore[no-untyped-def]
    cli = app.test_cli_runner()
    world.model("acme/llm", stage="general-availability")
    ann = world.person("ann@uni.edu")
    (token,) = json.loads(cli.invoke(main, ["tokens", "list", "ann@uni.edu", "--json"]).output)
    assert (token["name"], token["status"], token["scopes"]) == ("test", "active", ["read"])
    assert ann.token.startswith(token["prefix"])
    assert ann.token not in cli.invoke(main, ["tokens", "list", "ann@uni.edu"]).output
    assert client.get("/api/v1/me/access", headers=ann.auth).status_code == 200

    revoked = cli.invoke(main, ["tokens", "revoke", "ann@uni.edu", str(token["id"])])
    assert revoked.exit_code == 0
    assert "revoked token" in revoked.output
    assert client.get("/api/v1/me/access", headers=ann.auth).status_code == 401
    (after,) = json.loads(cli.invoke(main, ["tokens", "list", "ann@uni.edu", "--json"]).output)
    assert after["status"] == "revoked"
    again = cli.invoke(main, ["tokens", "revoke", "ann@uni.edu", str(token["id"])])
    assert again.exit_code == 1
    assert "No such token." in again.output
    db.session.expire_all()
