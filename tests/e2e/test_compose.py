"""docker/compose.yaml, checked without a Docker engine: every DISTSERVER_* it sets is
a real setting, every service the app needs is there with health checks and start
order, state lives in volumes, keys come from Docker secrets, and the settings it gives
start a production app (with the keys docker/make-secrets.sh makes)."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from distserver import create_app
from distserver.paths import CONFIG_DIR
from tests.e2e.image import COMPOSE_FILE, DOCKER_DIR, DOCKERFILE, dockerfile_command

COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
SETTINGS = set(tomllib.loads((CONFIG_DIR / "default.toml").read_text()))
DISTSERVER_SERVICES = ("app", "worker", "scheduler", "migrate")
# What docker/.env gives in a real deploy.
DOTENV = {
    "DOMAIN": "models.example.org",
    "S3_DOMAIN": "s3.models.example.org",
    "SMTP_HOST": "smtp.example.org",
    "MAIL_FROM": "models@example.org",
}


def interpolate(value: object, variables: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, for the test's values."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise AssertionError(f"compose would stop: {arg}")
        return arg or ""

    pattern = r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}"
    return re.sub(pattern, one, str(value))


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {k: interpolate(v, DOTENV) for k, v in env.items()}


def test_every_distserver_variable_it_sets_is_a_real_setting() -> None:
    seen = set()
    for name, service in SERVICES.items():
        for variable in service.get("environment") or {}:
            if not variable.startswith("DISTSERVER_"):
                continue
            setting = variable.removeprefix("DISTSERVER_")
            if setting.endswith("_FILE") and setting not in SETTINGS:
                setting = setting.removesuffix("_FILE")  # DISTSERVER_<NAME>_FILE
            assert setting in SETTINGS, f"{name}: {variable} is not in config/default.toml"
            seen.add(setting)
    # The ones a deploy behind a proxy cannot do without.
    for needed in ("EXTERNAL_URL", "TRUSTED_PROXY_COUNT", "S3_PUBLIC_ENDPOINT_URL", "REDIS_URL"):
        assert needed in seen


def test_every_service_the_app_needs_is_there() -> None:
    images = {name: str(service.get("image", "")) for name, service in SERVICES.items()}
    assert images["db"].startswith("postgres:")
    assert images["redis"].startswith("redis:")
    assert images["s3"].startswith("minio/minio")
    assert images["s3-init"].startswith("minio/mc")
    assert images["proxy"].startswith("caddy:") or images["proxy"].startswith("nginx")
    for name in DISTSERVER_SERVICES:
        assert SERVICES[name]["build"]["dockerfile"] == "docker/Dockerfile"
    assert SERVICES["worker"]["command"] == ["distserver", "jobs", "worker"]
    assert SERVICES["scheduler"]["command"] == ["distserver", "jobs", "scheduler"]
    assert SERVICES["migrate"]["command"] == ["distserver", "db", "upgrade"]
    assert "mb --ignore-existing" in " ".join(SERVICES["s3-init"]["command"])
    # The proxy terminates TLS and sends everything to the app.
    assert "443:443" in SERVICES["proxy"]["ports"]
    caddyfile = (DOCKER_DIR / "Caddyfile").read_text()
    assert "reverse_proxy app:8000" in caddyfile
    assert "reverse_proxy s3:9000" in caddyfile


def test_the_app_runs_the_images_command_which_the_wheel_test_runs() -> None:
    assert "command" not in SERVICES["app"]
    assert "entrypoint" not in SERVICES["app"]
    assert dockerfile_command() == [
        "gunicorn",
        "-c",
        "docker/gunicorn.conf.py",
        "distserver:create_app()",
    ]
    dockerfile = DOCKERFILE.read_text()
    assert "WORKDIR /app" in dockerfile
    assert "COPY docker/gunicorn.conf.py ./docker/gunicorn.conf.py" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the image must not run as root"
    assert "pip install --no-cache-dir /dist/*.whl" in dockerfile
    # The instance folder of the image is the compose file's volume.
    assert "instance:/app/instance" in SERVICES["app"]["volumes"]


def test_health_checks_and_start_order() -> None:
    for name in ("db", "redis", "s3", "app", "proxy"):
        assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for other, rule in depends.items():
            condition = rule["condition"]
            if condition == "service_healthy":
                assert SERVICES[other].get("healthcheck"), f"{name} waits on {other}'s health"
            else:
                assert condition == "service_completed_successfully"
                assert SERVICES[other].get("restart") == "no", f"{other} must be one-shot"
    for name in ("app", "worker", "scheduler"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["s3-init"]["condition"] == "service_completed_successfully"
        for needed in ("db", "redis", "s3"):
            assert depends[needed]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert SERVICES["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"


def test_every_stateful_service_keeps_its_data_in_a_named_volume() -> None:
    named = set(COMPOSE["volumes"])
    for name, path in (
        ("db", "/var/lib/postgresql/data"),
        ("redis", "/data"),
        ("s3", "/data"),
        ("proxy", "/data"),
        ("app", "/app/instance"),
        ("worker", "/app/instance"),
        ("scheduler", "/app/instance"),
    ):
        mounts = [str(m).split(":") for m in SERVICES[name].get("volumes", [])]
        assert any(m[0] in named and m[1] == path for m in mounts), f"{name}: {path}"


def test_keys_and_passwords_come_from_docker_secrets_made_by_the_script(tmp_path: Path) -> None:
    declared = COMPOSE["secrets"]
    for name, service in SERVICES.items():
        env = service.get("environment") or {}
        for variable in ("SECRET_KEY", "TOTP_ENCRYPTION_KEY", "FINGERPRINT_KEYS", "DATABASE_URL"):
            assert f"DISTSERVER_{variable}" not in env, f"{name}: {variable} given inline"
        for variable, value in env.items():
            if str(value).startswith("/run/secrets/"):
                secret = str(value).removeprefix("/run/secrets/")
                assert secret in service.get("secrets", []), f"{name}: {variable}"
                assert secret in declared
    app_env = SERVICES["app"]["environment"]
    for key in ("SECRET_KEY", "TOTP_ENCRYPTION_KEY", "FINGERPRINT_KEYS", "METRICS_TOKEN"):
        assert str(app_env[f"DISTSERVER_{key}_FILE"]).startswith("/run/secrets/")
    assert str(app_env["DISTSERVER_AUDIT_SIGNING_KEY_FILE"]).startswith("/run/secrets/")
    made = subprocess.run(
        [str(DOCKER_DIR / "make-secrets.sh"), str(tmp_path / "secrets")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    for name, spec in declared.items():
        assert spec["file"].startswith("./secrets/")
        assert (tmp_path / "secrets" / spec["file"].removeprefix("./secrets/")).is_file(), name
    again = subprocess.run(
        [str(DOCKER_DIR / "make-secrets.sh"), str(tmp_path / "secrets")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 0
    assert "made" not in again.stdout


def test_clients_get_links_to_another_s3_endpoint_than_the_app_uses() -> None:
    env = environment("app")
    internal = env["DISTSERVER_S3_ENDPOINT_URL"]
    public = env["DISTSERVER_S3_PUBLIC_ENDPOINT_URL"]
    assert internal == "http://s3:9000"
    assert public == f"https://{DOTENV['S3_DOMAIN']}"
    assert env["DISTSERVER_EXTERNAL_URL"] == f"https://{DOTENV['DOMAIN']}"


@pytest.mark.parametrize("service", DISTSERVER_SERVICES)
def test_its_settings_and_secrets_start_a_production_app(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "run-secrets"
    subprocess.run(
        [str(DOCKER_DIR / "make-secrets.sh"), str(secrets)], check=True, capture_output=True
    )
    for name in list(os.environ):
        if name.startswith(("DISTSERVER_", "AWS_")):
            monkeypatch.delenv(name)
    for name, value in environment(service).items():
        monkeypatch.setenv(name, value.replace("/run/secrets/", f"{secrets}/"))
    monkeypatch.setenv("DISTSERVER_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app()
    assert app.config["ENV"] == "production"
    assert app.config["SECRET_KEY"] == (secrets / "secret-key").read_text()
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://distserver:")
    assert app.config["S3_PUBLIC_ENDPOINT_URL"] == f"https://{DOTENV['S3_DOMAIN']}"
