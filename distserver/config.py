"""Settings: config/default.toml, then config/<ENV>.toml, then the file named by
DISTSERVER_CONFIG, then DISTSERVER_* environment variables, then explicit overrides.
The config folder is the one shipped with the package (distserver.paths), wherever the
server runs from; DISTSERVER_CONFIG_DIR names another.

Every problem stops start-up with a sentence that says what to fix.
"""

from __future__ import annotations

import json
import os
import secrets
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from distserver.errors import ConfigError
from distserver.instance_files import create_once
from distserver.outbound import parse_networks
from distserver.paths import CONFIG_DIR, PROJECT_DIR, TIERS_DIR

__all__ = ["PROJECT_DIR", "ConfigError", "load_settings"]
ENVIRONMENTS = ("production", "development", "testing")
STORAGE_BACKENDS = ("local", "s3")
PASSWORD_HASH_COSTS = ("rfc9106", "minimal")  # distserver/accounts/passwords.py
WEAK_SECRETS = {"", "dev", "changeme", "secret", "development", "you-will-never-guess"}
MIN_SECRET_LENGTH = 32
# Where the server is reached when EXTERNAL_URL is not set: the Flask test client's
# host in tests, `distserver demo`'s default address in development.
DEFAULT_EXTERNAL_URLS = {"testing": "http://localhost", "development": "http://127.0.0.1:8000"}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: settings file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def _typed(raw: str) -> Any:
    # Same rule as Flask's from_prefixed_env: values that parse as JSON are typed.
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _from_env(environ: dict[str, str], known: set[str]) -> dict[str, Any]:
    """DISTSERVER_<NAME> sets NAME. DISTSERVER_<NAME>_FILE, for a known setting NAME
    (one in default.toml) that is not itself a *_FILE setting, sets NAME to the content
    of that file, without its trailing newline: how Docker secrets hand over keys."""
    settings: dict[str, Any] = {}
    from_files: dict[str, str] = {}
    for key, raw in environ.items():
        if not key.startswith("DISTSERVER_") or key in ("DISTSERVER_CONFIG",):
            continue
        name = key.removeprefix("DISTSERVER_")
        target = name.removesuffix("_FILE")
        if name.endswith("_FILE") and name not in known and target in known:
            from_files[target] = raw
        else:
            settings[name] = _typed(raw)
    for target, path in from_files.items():
        if f"DISTSERVER_{target}" in environ:
            raise ConfigError(
                f"both DISTSERVER_{target} and DISTSERVER_{target}_FILE are set: keep one"
            )
        try:
            content = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"DISTSERVER_{target}_FILE={path!r} cannot be read ({exc.strerror or exc})"
            ) from None
        settings[target] = _typed(content.rstrip("\r\n"))
    return settings


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    environ = dict(os.environ if environ is None else environ)
    config_dir = Path(environ.get("DISTSERVER_CONFIG_DIR") or CONFIG_DIR)
    settings = _read_toml(config_dir / "default.toml")
    from_env = _from_env(environ, set(settings))
    overrides = dict(overrides or {})
    env = str(overrides.get("ENV") or from_env.get("ENV") or settings.get("ENV", "production"))
    if env not in ENVIRONMENTS:
        raise ConfigError(f"DISTSERVER_ENV={env!r}: use one of {', '.join(ENVIRONMENTS)}")
    env_file = config_dir / f"{env}.toml"
    if env_file.exists():
        settings.update(_read_toml(env_file))
    if environ.get("DISTSERVER_CONFIG"):
        settings.update(_read_toml(Path(environ["DISTSERVER_CONFIG"])))
    settings.update(from_env)
    settings.update(overrides)
    settings["ENV"] = env
    return _finish(settings)


def _finish(settings: dict[str, Any]) -> dict[str, Any]:
    instance = Path(str(settings.get("INSTANCE_DIR") or "./instance")).resolve()
    settings["INSTANCE_DIR"] = str(instance)
    # The default "./tiers" is the working folder's tiers when there is one (a
    # checkout), else the tiers shipped with the package; any other value is used as is.
    tiers_dir = Path(str(settings.get("TIERS_DIR") or "./tiers"))
    if tiers_dir == Path("tiers") and not tiers_dir.exists():
        tiers_dir = TIERS_DIR
    settings["TIERS_DIR"] = str(tiers_dir.resolve())

    storage = str(settings.get("STORAGE", "local"))
    if storage not in STORAGE_BACKENDS:
        raise ConfigError(
            f"DISTSERVER_STORAGE={storage!r} is not a storage backend: use 'local' or 's3'"
        )
    if storage == "s3" and not settings.get("S3_BUCKET"):
        raise ConfigError("DISTSERVER_STORAGE=s3 needs DISTSERVER_S3_BUCKET")

    _check_password_hash_cost(settings)

    url = str(settings.get("DATABASE_URL") or "")
    if not url:
        url = f"sqlite:///{instance / 'distserver.sqlite3'}"
    _check_database_url(url)
    settings["DATABASE_URL"] = url
    settings["SQLALCHEMY_DATABASE_URI"] = url
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_options["connect_args"] = {"timeout": 30}
    settings.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options)

    settings["SECRET_KEY"] = _secret_key(settings, instance)
    settings["EXTERNAL_URL"] = _external_url(settings)
    settings["TRUSTED_HOSTS"] = _trusted_hosts(settings)
    settings.setdefault("SESSION_COOKIE_HTTPONLY", True)
    settings.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    settings.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    settings.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    settings.setdefault("SESSION_COOKIE_SECURE", settings["ENV"] == "production")
    settings.setdefault("REMEMBER_COOKIE_SECURE", settings["SESSION_COOKIE_SECURE"])
    settings["RATELIMIT_STORAGE_URI"] = str(settings.get("REDIS_URL") or "memory://")
    settings.setdefault("WTF_CSRF_TIME_LIMIT", None)
    parse_networks(settings.get("WEBHOOK_ALLOWED_NETWORKS"))  # a bad CIDR stops start-up
    return settings


def _check_password_hash_cost(settings: dict[str, Any]) -> None:
    cost = str(settings.get("PASSWORD_HASH_COST") or "rfc9106")
    if cost not in PASSWORD_HASH_COSTS:
        raise ConfigError(
            f"DISTSERVER_PASSWORD_HASH_COST={cost!r}: use one of {', '.join(PASSWORD_HASH_COSTS)}"
        )
    if cost != "rfc9106" and settings["ENV"] == "production":
        raise ConfigError(
            f"DISTSERVER_PASSWORD_HASH_COST={cost!r} is for tests only: production hashes "
            "passwords at 'rfc9106'"
        )
    settings["PASSWORD_HASH_COST"] = cost


def _check_database_url(url: str) -> None:
    """Refuse, naming the setting but never its value (it holds a password), a URL no
    engine could be built from: unparsable, an unknown dialect, or a missing driver."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "use postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME or sqlite:///PATH"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"DISTSERVER_DATABASE_URL is not a database URL: {example}") from None
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ConfigError(
            f"DISTSERVER_DATABASE_URL names the unknown database {parsed.drivername!r}: {example}"
        ) from None
    except ImportError as exc:
        raise ConfigError(
            f"DISTSERVER_DATABASE_URL needs the driver {exc.name or parsed.drivername!r}, which "
            f"is not installed: {example}"
        ) from None


def _secret_key(settings: dict[str, Any], instance: Path) -> str:
    key = str(settings.get("SECRET_KEY") or "")
    if settings["ENV"] == "production":
        if key.lower() in WEAK_SECRETS or len(key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "DISTSERVER_SECRET_KEY is missing, a default, or shorter than "
                f"{MIN_SECRET_LENGTH} characters: set a random one (python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return key
    if key:
        return key
    # Development and tests: one generated key per instance, kept across restarts, and
    # one only when several processes start at once.
    made = create_once(instance / "secret_key", lambda: secrets.token_urlsafe(48).encode())
    return made.decode().strip()


def _external_url(settings: dict[str, Any]) -> str:
    """EXTERNAL_URL checked and without a trailing slash; empty only in production,
    where `require_external_url` stops start-up."""
    url = str(settings.get("EXTERNAL_URL") or "").strip()
    if not url:
        return DEFAULT_EXTERNAL_URLS.get(settings["ENV"], "")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
    ):
        raise ConfigError(
            f"DISTSERVER_EXTERNAL_URL={url!r}: give the address people reach this server "
            "at, scheme and host only, such as https://models.example.org"
        )
    return url.rstrip("/")


def _trusted_hosts(settings: dict[str, Any]) -> list[str] | None:
    """Flask's TRUSTED_HOSTS: the host names this server answers for (requests naming
    any other host get 400). Given as a list or a comma-separated string; empty means
    EXTERNAL_URL's host in production and no check elsewhere."""
    given = settings.get("TRUSTED_HOSTS") or []
    if isinstance(given, str):
        given = [h.strip() for h in given.split(",") if h.strip()]
    hosts = [str(h).strip().lower() for h in given if str(h).strip()]
    if hosts:
        return hosts
    if settings["ENV"] == "production" and settings["EXTERNAL_URL"]:
        return [str(urlsplit(settings["EXTERNAL_URL"]).hostname)]
    return None


def require_external_url(settings: dict[str, Any]) -> None:
    """Stop start-up in production without EXTERNAL_URL: mailed links would otherwise
    have to name whatever host a request claimed."""
    if not settings.get("EXTERNAL_URL"):
        raise ConfigError(
            "DISTSERVER_EXTERNAL_URL is not set: set it to the address people reach this "
            "server at (such as https://models.example.org); mailed links and redirects "
            "are built from it, never from a request's Host header"
        )
