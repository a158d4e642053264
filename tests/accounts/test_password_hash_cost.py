"""PASSWORD_HASH_COST: production hashes at RFC 9106's cost and refuses the tests'
cheap one; a stored hash is checked at the cost it was made with, whatever the setting;
and an unknown address is checked against a dummy hash of the current cost."""

from __future__ import annotations

from typing import Any

import pytest

from distserver.accounts.auth import DUMMY_HASH, DUMMY_HASHES, _dummy
from distserver.accounts.passwords import hash_password, verify_password
from distserver.config import load_settings
from distserver.errors import ConfigError

PRODUCTION_PARAMETERS = "$argon2id$v=19$m=65536,t=3,p=4$"


def test_production_hashes_at_rfc9106_and_refuses_another_cost() -> None:
    settings = load_settings({"ENV": "production", "SECRET_KEY": "k" * 40}, environ={})
    assert settings["PASSWORD_HASH_COST"] == "rfc9106"
    with pytest.raises(ConfigError, match="PASSWORD_HASH_COST='minimal' is for tests only"):
        load_settings(
            {"ENV": "production", "SECRET_KEY": "k" * 40, "PASSWORD_HASH_COST": "minimal"},
            environ={},
        )
    with pytest.raises(ConfigError, match="PASSWORD_HASH_COST='cheap': use one of"):
        load_settings({"ENV": "testing", "PASSWORD_HASH_COST": "cheap"}, environ={})


def test_a_stored_hash_is_checked_at_its_own_cost_whatever_the_setting(make_app: Any) -> None:
    assert load_settings({"ENV": "testing"}, environ={})["PASSWORD_HASH_COST"] == "minimal"
    full = make_app("sqlite", PASSWORD_HASH_COST="rfc9106")
    cheap = make_app("sqlite", PASSWORD_HASH_COST="minimal")
    with full.app_context():
        strong = hash_password("correct horse battery")
        assert strong.startswith(PRODUCTION_PARAMETERS)
        assert _dummy() == DUMMY_HASH  # an unknown address costs what a known one does
    with cheap.app_context():
        weak = hash_password("correct horse battery")
        assert not weak.startswith(PRODUCTION_PARAMETERS)
        assert verify_password(strong, "correct horse battery")
        assert not verify_password(strong, "wrong horse battery")
        # A constant too: hashing it on first use would make the first miss cost more.
        assert _dummy() == DUMMY_HASHES["minimal"]
        assert not _dummy().startswith(PRODUCTION_PARAMETERS)
    with full.app_context():
        assert verify_password(weak, "correct horse battery")
        assert _dummy() == DUMMY_HASH
