"""The access commands as an operator types them, and a model's own terms."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from distserver.access.models import Grant
from distserver.cli import main
from distserver.db import utcnow
from distserver.extensions import db
from distserver.mail import read_outbox
from tests.access.support import ANSWERS, apply, link, manager, sha
from tests.support.tiers import tiers_with
from tests.support.world import World


def test_cli_review_orgs_reminders_and_report(app, client, world: World) -> None:  # type: ignore[no-untyped-def]
    cli = app.test_cli_runner()
    world.model("acme/llm", stage="research-access")
    world.person("rev@example.org", roles=("reviewer",))
    app_id = apply(client, "acme/llm", manager(world, "a@example.org")).json["id"]
    listed = cli.invoke(main, ["applications", "list"])
    assert listed.exit_code == 0
    assert f"{app_id}\tpending\ta@example.org" in listed.output
    assert cli.invoke(main, ["applications", "approve", str(app_id)]).exit_code == 1  # who?
    refused = cli.invoke(main, ["applications", "reject", str(app_id), "--as", "rev@example.org"])
    assert refused.exit_code == 1
    ok = cli.invoke(main, ["applications", "approve", str(app_id), "--as", "rev@example.org"])
    assert ok.exit_code == 0, ok.output

    grant = db.session.scalar(db.select(Grant))
    grant.expires_at = utcnow() + timedelta(days=3)
    db.session.commit()
    assert "reminded 1" in cli.invoke(main, ["grants", "remind", "--days", "7"]).output
    assert "reminded 0" in cli.invoke(main, ["grants", "remind", "--days", "7"]).output
    assert any("expires on" in m["subject"] for m in read_outbox() if m["to"] == "a@example.org")

    world.person("m@example.org")
    for args in (
        ["orgs", "create", "lab", "--name", "Partner Lab"],
        ["orgs", "sign-agreement", "lab", "--signed-by", "Director"],
        ["orgs", "add-member", "lab", "m@example.org"],
        ["orgs", "remove-member", "lab", "m@example.org"],
        ["webhooks", "add", "http://127.0.0.1:9/hook", "--event", "*"],
        ["applications", "digest"],
    ):
        result = cli.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
    report = cli.invoke(main, ["access", "report", "--format", "csv"])
    assert report.exit_code == 0
    assert "a@example.org,researcher,acme/llm,approved,rev@example.org" in report.output


def test_a_model_adds_its_own_agreement_and_fields(make_app, db_backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tiers_dir = tiers_with(tmp_path, {})
    (tiers_dir / "agreements" / "llm-addendum.md").write_text("# Addendum\n\nNo medical use.\n")
    (tiers_dir / "models").mkdir()
    (tiers_dir / "models" / "acme__llm.toml").write_text(
        '[researcher]\nagreement = { name = "llm-addendum", version = "1" }\n\n'
        '[[researcher.form]]\nname = "country"\nlabel = "Country"\ntype = "country"\n'
    )
    app = make_app(db_backend, TIERS_DIR=str(tiers_dir), APPLICATION_DIGEST_THRESHOLD=0)
    with app.app_context():
        world, client = World(app, tmp_path / "src"), app.test_client()
        world.model("acme/llm", stage="research-access")
        world.model("acme/plain", stage="research-access")
        tier = world.rt.tiers["researcher"]
        addendum = tier.agreements_for("acme/llm")[1].sha256
        headers = manager(world, "a@example.org")
        reviewer = manager(world, "rev@example.org", roles=("reviewer",))
        assert apply(client, "acme/llm", headers).json["error"]["code"] == "invalid_answers"
        answers = {**ANSWERS, "country": "de"}
        missing = apply(client, "acme/llm", headers, answers=answers)
        assert missing.status_code == 409
        assert "model_agreement_sha256" in missing.json["error"]["message"]
        ok = apply(client, "acme/llm", headers, answers=answers, model_agreement_sha256=addendum)
        assert ok.status_code == 201
        assert ok.json["answers"]["country"] == "DE"
        assert apply(client, "acme/plain", headers).status_code == 201  # no extra terms there
        assert not [m for m in read_outbox() if m["to"] == "rev@example.org"]  # digest only
        client.post(
            "/api/v1/applications/decide",
            json={"ids": [ok.json["id"]], "decision": "approve"},
            headers=reviewer,
        )
        assert link(client, "acme/llm", headers).status_code == 201
        assert sha("researcher") in {a.sha256 for a in tier.agreements_for("acme/llm")}


def test_cli_extends_a_grant_as_the_console_does(app, world: World) -> None:  # type: ignore[no-untyped-def]
    cli = app.test_cli_runner()
    world.model("acme/llm", stage="research-access")
    world.person("ann@example.org", tiers=("researcher",), grant_days=10)
    world.person("sal@example.org", roles=("safety",))
    grant = db.session.scalar(db.select(Grant))
    before = grant.expires_at
    refused = cli.invoke(
        main, ["grants", "extend", str(grant.id), "--days", "5", "--as", "sal@example.org"]
    )
    assert refused.exit_code == 1
    assert "Only admin or reviewer staff may extend grants." in refused.output
    done = cli.invoke(main, ["grants", "extend", str(grant.id), "--days", "5"])
    assert done.exit_code == 0, done.output
    assert f"grant {grant.id} now runs until" in done.output, done.output
    db.session.refresh(grant)
    assert (grant.expires_at - before).days == 5
    assert [e.actor for e in world.events("access:grant:extended")] == ["system"]
    missing = cli.invoke(main, ["grants", "extend", "999", "--days", "5"])
    assert missing.exit_code == 1
    assert "No live grant 999." in missing.output


def test_cli_names_a_manager_rotates_a_secret_and_redelivers(app, world: World) -> None:  # type: ignore[no-untyped-def]
    from distserver.access.models import Membership, Webhook, WebhookDelivery
    from distserver.access.webhooks import emit

    cli = app.test_cli_runner()
    world.person("m@example.org")
    for args in (
        ["orgs", "create", "lab", "--name", "Partner Lab"],
        ["orgs", "add-member", "lab", "m@example.org"],
        ["orgs", "set-role", "lab", "m@example.org", "manager"],
        ["webhooks", "add", "http://127.0.0.1:9/hook", "--event", "*"],
    ):
        result = cli.invoke(main, args)
        assert result.exit_code == 0, (args, result.output)
    assert db.session.scalar(db.select(Membership.role)) == "manager"

    hook = db.session.scalar(db.select(Webhook))
    old_secret = hook.secret
    rotated = cli.invoke(main, ["webhooks", "rotate-secret", str(hook.id)])
    assert rotated.exit_code == 0, rotated.output
    new_secret = rotated.output.split("secret ", 1)[1].strip()
    db.session.expire_all()
    assert hook.secret == new_secret != old_secret

    [delivery_id] = emit(db.session, "release:stage:halted", {"model": "acme/llm"})
    db.session.commit()
    again = cli.invoke(main, ["webhooks", "redeliver", str(hook.id), str(delivery_id)])
    assert again.exit_code == 0, again.output
    assert db.session.query(WebhookDelivery).count() == 2
    missing = cli.invoke(main, ["webhooks", "redeliver", str(hook.id), "999"])
    assert missing.exit_code == 1
    assert "No delivery 999" in missing.output
    tags = [e.tag for e in world.events() if e.tag.startswith(("access:webhook", "access:member"))]
    assert tags == [
        "access:membership:added",
        "access:membership:role_changed",
        "access:webhook:created",
        "access:webhook:secret_rotated",
        "access:webhook:redelivered",
    ]
