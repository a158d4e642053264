"""Start-up refuses bad tiers, plans and settings with a sentence naming what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from distserver import create_app
from distserver.config import load_settings
from distserver.errors import ConfigError
from tests.support.tiers import tiers_with

GOOD = "a-long-random-secret-key-for-the-tests-0123456789"


def start(tmp_path: Path, **settings: object):  # type: ignore[no-untyped-def]
    base = {"ENV": "testing", "INSTANCE_DIR": str(tmp_path / "i"), "SECRET_KEY": GOOD}
    base.update(settings)
    return create_app(base)


@pytest.mark.parametrize(
    ("tier", "field", "value", "says"),
    [
        ("researcher", "link_ttl", "forever", "field 'link_ttl'"),
        ("researcher", "link_ttl", "8d", "field 'link_ttl' must be between 1 second and 7 days"),
        ("public", "qualification", "magic", "field 'qualification' must be one of"),
        ("public", "daily_quota", -1, "field 'daily_quota' must not be negative"),
        ("public", "login_required", "yes", "field 'login_required' must be a bool"),
        ("public", "colour", "blue", "field 'colour' is not a known field"),
    ],
)
def test_a_bad_tier_file_stops_start_up_naming_file_and_field(
    tmp_path, tier, field, value, says
) -> None:  # type: ignore[no-untyped-def]
    tiers = tiers_with(tmp_path, {tier: {field: value}})
    with pytest.raises(ConfigError) as err:
        start(tmp_path, TIERS_DIR=str(tiers))
    assert f"{tier}.toml" in str(err.value)
    assert says in str(err.value)


def test_a_plan_naming_an_unknown_tier_is_refused(tmp_path: Path) -> None:
    tiers = tiers_with(tmp_path, {})
    plan = tiers / "plans" / "default.toml"
    plan.write_text(plan.read_text().replace('tiers = ["vetted_partner"]', 'tiers = ["vip"]'))
    with pytest.raises(
        ConfigError, match=r"default\.toml: field 'stages\[1\]\.tiers' names tier 'vip'"
    ):
        start(tmp_path, TIERS_DIR=str(tiers))


def test_broken_toml_is_refused(tmp_path: Path) -> None:
    tiers = tiers_with(tmp_path, {})
    (tiers / "public.toml").write_text("name = \n")
    with pytest.raises(ConfigError, match=r"public\.toml: not valid TOML"):
        start(tmp_path, TIERS_DIR=str(tiers))


@pytest.mark.parametrize("secret", ["", "changeme", "short-key"])
def test_production_refuses_a_missing_default_or_short_secret(secret: str) -> None:
    with pytest.raises(ConfigError, match="DISTSERVER_SECRET_KEY"):
        load_settings({"ENV": "production", "SECRET_KEY": secret}, environ={})


def test_production_accepts_a_strong_secret() -> None:
    settings = load_settings({"ENV": "production", "SECRET_KEY": GOOD}, environ={})
    assert settings["SESSION_COOKIE_SECURE"] is True


def test_an_unknown_storage_backend_is_refused_not_replaced() -> None:
    with pytest.raises(ConfigError, match="DISTSERVER_STORAGE='s4'"):
        load_settings({"ENV": "testing", "STORAGE": "s4"}, environ={})


def test_environment_variables_override_files() -> None:
    settings = load_settings(
        {"ENV": "testing"},
        environ={"DISTSERVER_S3_REGION": "eu-west-1", "DISTSERVER_S3_MAX_CONCURRENCY": "3"},
    )
    assert settings["S3_REGION"] == "eu-west-1"
    assert settings["S3_MAX_CONCURRENCY"] == 3


def test_development_generates_and_keeps_a_secret(tmp_path: Path) -> None:
    first = load_settings({"ENV": "development", "INSTANCE_DIR": str(tmp_path)}, environ={})
    second = load_settings({"ENV": "development", "INSTANCE_DIR": str(tmp_path)}, environ={})
    assert len(first["SECRET_KEY"]) >= 32
    assert first["SECRET_KEY"] == second["SECRET_KEY"]


def test_production_starts_only_with_every_key_it_needs(tmp_path: Path) -> None:
    from tests.support.production import production_env

    keys = {k.removeprefix("DISTSERVER_"): v for k, v in production_env(tmp_path / "k").items()}
    base = {**keys, "INSTANCE_DIR": str(tmp_path / "i")}
    assert create_app(base).config["ENV"] == "production"
    for missing in ("AUDIT_SIGNING_KEY_FILE", "TOTP_ENCRYPTION_KEY", "FINGERPRINT_KEYS"):
        with pytest.raises(ConfigError, match=missing):
            create_app({**base, missing: ""})
