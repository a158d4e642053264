"""Done when 1: for each rule, a scripted sequence of requests through the real doors
(client addresses set through the trusted-proxy setting) raises exactly one alert, and
a near-miss raises none. On PostgreSQL, token requests take the download fast path,
whose events the rules read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distserver.audit.tags import EventTag
from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases import services as releases
from tests.alerts.support import alerts, alerts_app, ask, seal_and_evaluate
from tests.support.world import World

pytestmark = pytest.mark.postgres

RULES = """
[shared_credential]
max_addresses = 2
window = "1h"
[repeat_download]
max_per_file = 3
max_whole_model = 2
[refusal_burst]
max_refusals = 3
window = "1h"
[anonymous_share]
max_share = 0.5
min_downloads = 4
[after_halt]
within = "30m"
"""


@pytest.fixture
def app(make_app: Any, tmp_path: Path) -> Any:
    application = alerts_app(make_app, tmp_path, "postgres", RULES)
    with application.app_context():
        yield application


@pytest.fixture
def researcher(app: Any, tmp_path: Path) -> Any:
    world = World(app, tmp_path / "src")
    model = world.model("acme/llm", stage="research-access")
    person = world.person("r@example.org", tiers=("researcher",), model=model)
    person.uid = person.user.id  # the user object is detached after the first request
    return person


FILES = ["config.json", "model.safetensors", "sub/tokenizer.json"]


def _statuses(app: Any, person: Any, addresses: list[str], **kw: Any) -> list[int]:
    client = app.test_client()
    return [ask(client, a, auth=person.auth, **kw).status_code for a in addresses]


def _spread(app: Any, person: Any, addresses: list[str]) -> list[int]:
    """One request per address, cycling through the files (so no file repeats much)."""
    client = app.test_client()
    return [
        ask(client, a, auth=person.auth, path=FILES[i % 3]).status_code
        for i, a in enumerate(addresses)
    ]


def test_shared_credential_three_addresses_in_an_hour(app: Any, researcher: Any) -> None:
    addresses = ["198.51.100.1", "198.51.100.2", "198.51.100.1", "198.51.100.3"]
    assert _spread(app, researcher, addresses) == [201] * 4
    report = seal_and_evaluate(app)
    [alert] = alerts()
    assert (alert.rule, alert.principal) == ("shared_credential", f"user:{researcher.uid}")
    assert len(alert.evidence_seqs) == 3  # the first request from each address
    assert report.raised == [alert.id]
    assert seal_and_evaluate(app).raised == []  # evaluated again: nothing new


def test_shared_credential_near_miss(app: Any, researcher: Any) -> None:
    addresses = ["198.51.100.1", "198.51.100.2"] * 3
    assert _spread(app, researcher, addresses) == [201] * 6
    seal_and_evaluate(app)
    assert alerts() == []


def test_repeat_download_of_one_file(app: Any, researcher: Any) -> None:
    assert _statuses(app, researcher, ["198.51.100.1"] * 4) == [201] * 4
    seal_and_evaluate(app)
    [alert] = alerts()
    assert alert.rule == "repeat_download"
    assert alert.detail["path"] == "config.json"
    assert len(alert.evidence_seqs) == 4


def test_repeat_download_near_miss(app: Any, researcher: Any) -> None:
    assert _statuses(app, researcher, ["198.51.100.1"] * 3) == [201] * 3
    seal_and_evaluate(app)
    assert alerts() == []


def test_whole_model_fetched_three_times(app: Any, researcher: Any) -> None:
    files = ["model.safetensors", "config.json", "sub/tokenizer.json"]
    for _ in range(3):
        for path in files:
            assert _statuses(app, researcher, ["198.51.100.1"], path=path) == [201]
    seal_and_evaluate(app)
    [alert] = alerts()
    assert alert.rule == "repeat_download"
    assert alert.detail["times"] == 3
    assert len(alert.evidence_seqs) == 9


def test_whole_model_near_miss_one_file_short(app: Any, researcher: Any) -> None:
    for round_ in range(3):
        for path in ["model.safetensors", "config.json", "sub/tokenizer.json"]:
            if round_ == 2 and path == "config.json":
                continue
            assert _statuses(app, researcher, ["198.51.100.1"], path=path) == [201]
    seal_and_evaluate(app)
    assert alerts() == []


def test_refusal_burst_probing_hidden_names(app: Any, researcher: Any) -> None:
    client = app.test_client()
    for name in ["secret-a", "secret-b", "secret-c", "secret-d"]:
        assert ask(client, "203.0.113.9", ref=f"acme/{name}").status_code == 404
    seal_and_evaluate(app)
    [alert] = alerts()
    assert (alert.rule, alert.principal) == ("refusal_burst", "addr:203.0.113.9")


def test_refusal_burst_near_miss(app: Any, researcher: Any) -> None:
    client = app.test_client()
    for name in ["secret-a", "secret-b", "secret-c"]:
        assert ask(client, "203.0.113.9", ref=f"acme/{name}").status_code == 404
    assert ask(client, "203.0.113.10", ref="acme/secret-d").status_code == 404
    seal_and_evaluate(app)
    assert alerts() == []


def _open_model(app: Any, tmp_path: Path) -> None:
    World(app, tmp_path / "open").model("acme/open", plan="open", stage=None)


def test_anonymous_share_from_one_network(app: Any, researcher: Any, tmp_path: Path) -> None:
    _open_model(app, tmp_path)
    client = app.test_client()
    for address in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.7"]:
        assert ask(client, address, ref="acme/open").status_code == 201
    seal_and_evaluate(app)
    [alert] = alerts()
    assert (alert.rule, alert.principal) == ("anonymous_share", "net:192.0.2.0/24")
    assert alert.detail["count"] == 3
    assert alert.detail["total"] == 4


def test_anonymous_share_near_miss(app: Any, researcher: Any, tmp_path: Path) -> None:
    _open_model(app, tmp_path)
    client = app.test_client()
    for address in ["192.0.2.1", "192.0.2.2", "198.51.100.7", "198.51.100.8"]:
        assert ask(client, address, ref="acme/open").status_code == 201
    seal_and_evaluate(app)
    assert alerts() == []


def _halt_and_resume(app: Any, researcher: Any, refused_during_halt: bool) -> None:
    from distserver.catalog.models import Model

    model = db.session.scalar(db.select(Model).where(Model.name == "llm"))
    releases.halt(db.session, model, "suspected leak", SYSTEM)
    if refused_during_halt:
        assert _statuses(app, researcher, ["198.51.100.1"]) == [403]
    releases.resume(db.session, model, SYSTEM, "cleared")
    assert _statuses(app, researcher, ["198.51.100.1"]) == [201]


def test_download_right_after_a_halt_lifted(app: Any, researcher: Any) -> None:
    _halt_and_resume(app, researcher, refused_during_halt=True)
    seal_and_evaluate(app)
    [alert] = alerts()
    assert alert.rule == "after_halt"
    assert alert.model == "acme/llm"
    tags = [e.tag for e in World.events() if e.tag.startswith(("download", "release"))]
    assert str(EventTag.STAGE_RESUMED) in tags


def test_after_halt_near_miss_not_refused_during_the_halt(app: Any, researcher: Any) -> None:
    _halt_and_resume(app, researcher, refused_during_halt=False)
    seal_and_evaluate(app)
    assert alerts() == []
