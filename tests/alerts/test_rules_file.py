"""The rules file is validated at start-up like the tiers: a mistake stops start-up
with a sentence naming the file, the rule and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from distserver.alerts.rules import DEFAULTS, load_rules
from distserver.errors import ConfigError


def _rules(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "alerts").mkdir(exist_ok=True)
    (tmp_path / "alerts" / "rules.toml").write_text(text)
    return load_rules(tmp_path)


def test_no_rules_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_rules(tmp_path) == DEFAULTS


def test_the_shipped_rules_file_loads() -> None:
    from distserver.config import PROJECT_DIR

    rules = load_rules(PROJECT_DIR / "tiers")
    assert rules.shared_credential.max_addresses == 3
    assert rules.refusal_burst.window == 600
    assert rules.contact == "security@example.org"


def test_a_rule_left_out_keeps_its_defaults(tmp_path: Path) -> None:
    rules = _rules(tmp_path, '[refusal_burst]\nmax_refusals = 4\nbrake = "suspend_tokens"\n')
    assert rules.refusal_burst.max_refusals == 4
    assert rules.refusal_burst.brake == "suspend_tokens"
    assert rules.shared_credential == DEFAULTS.shared_credential


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (
            "[shared_credential]\nmax_addresses = 0\n",
            "'shared_credential.max_addresses' must be at least 1",
        ),
        ('[shared_credential]\nwindow = "7h"\n', "'shared_credential.window' must divide a day"),
        ('[shared_credential]\nby = "planet"\n', "'shared_credential.by' must be one of"),
        ('[refusal_burst]\nbrake = "explode"\n', "'refusal_burst.brake' must be one of"),
        (
            "[anonymous_share]\nmax_share = 1.5\n",
            "'anonymous_share.max_share' must be between 0 and 1",
        ),
        ('[after_halt]\nwithin = "soon"\n', "'after_halt.within' must be seconds or like"),
        ("[shared_link]\nmax_fetch = 3\n", "'shared_link.max_fetch' is not a known field"),
        ("[bulk]\nmax = 3\n", "[bulk] is not a known rule"),
        ('contact = ""\n', "field 'contact' must be a non-empty string"),
    ],
)
def test_a_mistake_names_the_file_rule_and_field(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _rules(tmp_path, text)
    assert str(caught.value).startswith(str(tmp_path / "alerts" / "rules.toml"))
    assert says in str(caught.value)


def test_start_up_stops_on_a_bad_rules_file(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.alerts.support import alerts_app

    with pytest.raises(ConfigError, match=r"rules\.toml: field 'refusal_burst\.window'"):
        alerts_app(make_app, tmp_path, "sqlite", "[refusal_burst]\nwindow = 0\n")
