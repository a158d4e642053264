"""Done when 4: an alert's evidence verifies against the sealed log with the public
key alone: the test exports the audit log, the public key and the alert, then checks
offline (no settings, no database), and a tampered export or a made-up sequence
number fails."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from distserver.alerts.evidence import check_evidence
from distserver.alerts.service import payload
from distserver.audit.checkpoints import public_key_pem
from distserver.audit.keys import signing_key
from distserver.audit.queries import EventFilter, export_jsonl
from distserver.cli import main
from distserver.extensions import db
from tests.alerts.support import alerts, alerts_app, ask, seal_and_evaluate
from tests.support.world import World

RULES = "[shared_credential]\nmax_addresses = 1\n"


def test_evidence_verifies_offline_with_the_public_key(make_app: Any, tmp_path: Path) -> None:
    app = alerts_app(make_app, tmp_path, "sqlite", RULES)
    with app.app_context():
        world = World(app, tmp_path / "src")
        model = world.model("acme/llm", stage="research-access")
        person = world.person("r@example.org", tiers=("researcher",), model=model)
        client = app.test_client()
        assert ask(client, "198.51.100.1", auth=person.auth).status_code == 201
        assert (
            ask(client, "198.51.100.2", auth=person.auth, path="model.safetensors").status_code
            == 201
        )
        seal_and_evaluate(app)
        [alert] = alerts()
        out = io.StringIO()
        out.writelines(export_jsonl(db.session, EventFilter(), with_checkpoints=True))
        export = tmp_path / "audit.jsonl"
        export.write_text(out.getvalue())
        key = tmp_path / "audit-public-key.pem"
        key.write_bytes(public_key_pem(signing_key(app.config)))
        alert_file = tmp_path / "alert.json"
        alert_file.write_text(json.dumps(payload(alert)))
        public = signing_key(app.config).public_key()

    # Offline from here: the three files only.
    lines = export.read_bytes().splitlines()
    checked = check_evidence(lines, public, json.loads(alert_file.read_text())["evidence"])
    assert checked.ok, checked.message
    assert [e["address"] for e in checked.events] == ["198.51.100.1", "198.51.100.2"]
    assert {e["tag"] for e in checked.events} == {"download:link:issued"}

    args = ["alerts", "verify-evidence", "--export", str(export), "--public-key", str(key)]
    result = CliRunner().invoke(
        main, [*args, "--alert", str(alert_file)], env={"DISTSERVER_ENV": None}
    )
    assert result.exit_code == 0, result.output
    assert "2 evidence events verified" in result.output

    made_up = check_evidence(lines, public, [10_000])
    assert not made_up.ok
    assert "not in the export" in made_up.message
    tampered = [
        line.replace(b"198.51.100.2", b"198.51.100.1") if b'"seq":' in line else line
        for line in lines
    ]
    broken = check_evidence(tampered, public, json.loads(alert_file.read_text())["evidence"])
    assert not broken.ok
    assert "does not verify" in broken.message
