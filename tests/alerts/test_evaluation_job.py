"""Evaluation runs as the scheduled `alerts.evaluate` job (never on the request path):
a link request leaves no alert behind until the sealing and evaluation jobs run; two
evaluations at once (two hosts) raise each alert once."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from distserver.alerts.evaluate import evaluate
from distserver.alerts.service import current_rules
from distserver.audit.keys import signing_key
from distserver.audit.sealing import seal_pending
from distserver.cli import main
from distserver.extensions import db
from distserver.jobs import drain, failed_count, job_runtime
from distserver.jobs.schedule import periods
from tests.alerts.support import alerts, alerts_app, ask
from tests.support.world import World

RULES = "[shared_credential]\nmax_addresses = 1\n"


def _two_addresses(app: Any, tmp_path: Path) -> None:
    world = World(app, tmp_path / "src")
    model = world.model("acme/llm", stage="research-access")
    person = world.person("r@example.org", tiers=("researcher",), model=model)
    client = app.test_client()
    assert ask(client, "198.51.100.1", auth=person.auth).status_code == 201
    assert (
        ask(client, "198.51.100.2", auth=person.auth, path="model.safetensors").status_code == 201
    )


def test_the_scheduled_job_raises_alerts_after_sealing(make_app: Any, tmp_path: Path) -> None:
    app = alerts_app(make_app, tmp_path, "sqlite", RULES)
    assert periods(app.config)["alerts.evaluate"] == 300
    with app.app_context():
        _two_addresses(app, tmp_path)
        assert alerts() == []  # nothing on the request path
        runtime = job_runtime()
        runtime.send("alerts.evaluate")
        drain()
        assert alerts() == []  # not sealed yet: nothing to read
        runtime.send("audit.seal")
        drain()
        runtime.send("alerts.evaluate")
        drain()
        db.session.rollback()
        assert [a.rule for a in alerts()] == ["shared_credential"]
        assert failed_count() == 0

        runner = CliRunner()
        again = runner.invoke(main, ["alerts", "evaluate"])
        assert again.exit_code == 0
        assert "raised 0 alerts" in again.output
        listed = json.loads(
            runner.invoke(main, ["alerts", "list", "--state", "open", "--json"]).output
        )
        assert [(a["rule"], a["state"], len(a["evidence"])) for a in listed] == [
            ("shared_credential", "open", 2)
        ]
        bad = runner.invoke(main, ["alerts", "ack", str(listed[0]["id"]), "--note", " "])
        assert bad.exit_code == 1
        assert "needs a note" in bad.output


@pytest.mark.postgres
def test_two_evaluators_at_once_raise_each_alert_once(make_app: Any, tmp_path: Path) -> None:
    app = alerts_app(make_app, tmp_path, "postgres", RULES)
    with app.app_context():
        _two_addresses(app, tmp_path)
        seal_pending(db.session, signing_key(app.config))
    raised: list[int] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with app.app_context():
            barrier.wait()
            raised.extend(evaluate(db.session, current_rules()).raised)
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with app.app_context():
        assert len(alerts()) == 1
    assert len(raised) == 1
