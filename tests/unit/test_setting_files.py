"""DISTSERVER_<NAME>_FILE: a setting read from a file, as Docker secrets hand keys over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distserver.config import load_settings
from distserver.errors import ConfigError

STRONG = "a-long-random-secret-key-read-from-a-file-0123456789"


def test_a_secret_key_file_sets_the_secret_key_without_its_newline(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text(STRONG + "\n")
    settings = load_settings(
        {"INSTANCE_DIR": str(tmp_path)},
        environ={"DISTSERVER_ENV": "production", "DISTSERVER_SECRET_KEY_FILE": str(secret)},
    )
    assert settings["SECRET_KEY"] == STRONG


def test_a_json_valued_file_is_typed_like_the_variable(tmp_path: Path) -> None:
    keys = tmp_path / "fingerprint_keys"
    keys.write_text(json.dumps({"k1": "c2VjcmV0"}))
    url = tmp_path / "database_url"
    url.write_text("postgresql+psycopg://app:pw@db:5432/distserver\n")
    settings = load_settings(
        {"ENV": "testing", "INSTANCE_DIR": str(tmp_path)},
        environ={
            "DISTSERVER_FINGERPRINT_KEYS_FILE": str(keys),
            "DISTSERVER_DATABASE_URL_FILE": str(url),
        },
    )
    assert settings["FINGERPRINT_KEYS"] == {"k1": "c2VjcmV0"}
    assert settings["DATABASE_URL"] == "postgresql+psycopg://app:pw@db:5432/distserver"


def test_a_file_setting_stays_a_path(tmp_path: Path) -> None:
    # AUDIT_SIGNING_KEY_FILE is itself a setting: its value is the path, never the key.
    settings = load_settings(
        {"ENV": "testing", "INSTANCE_DIR": str(tmp_path)},
        environ={"DISTSERVER_AUDIT_SIGNING_KEY_FILE": "/run/secrets/audit-signing-key.pem"},
    )
    assert settings["AUDIT_SIGNING_KEY_FILE"] == "/run/secrets/audit-signing-key.pem"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=r"DISTSERVER_SECRET_KEY_FILE=.*nope.* cannot be read"):
        load_settings(
            {"ENV": "testing", "INSTANCE_DIR": str(tmp_path)},
            environ={"DISTSERVER_SECRET_KEY_FILE": str(missing)},
        )


def test_both_the_value_and_its_file_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text(STRONG)
    with pytest.raises(
        ConfigError, match="both DISTSERVER_SECRET_KEY and DISTSERVER_SECRET_KEY_FILE"
    ):
        load_settings(
            {"ENV": "testing", "INSTANCE_DIR": str(tmp_path)},
            environ={"DISTSERVER_SECRET_KEY": STRONG, "DISTSERVER_SECRET_KEY_FILE": str(secret)},
        )
