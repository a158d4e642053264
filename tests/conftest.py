"""Shared fixtures. Integration tests take `app` (parametrised over SQLite and the
real PostgreSQL) and `world` (seeds users, tokens and models through the services)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support import route_builders, template_cache
from tests.support.databases import TEST_SECRET, TemplateDatabases
from tests.support.markers import mark_parts
from tests.support.redis_namespace import redis_settings
from tests.support.world import World

pytest_plugins = ["tests.support.s3fixtures"]
route_builders.install()  # each route's URL builder compiled once per run, not per app
template_cache.install()  # each template compiled once per test process, not per app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_parts(items)  # postgres, s3, browser, oidc, hf, slow: see tests/support/markers.py
    # Files with a slow test run first (each file's tests still together and in order),
    # so the workers end on the many short tests instead of one waiting on a long one.
    slow_files = {i.nodeid.split("::")[0] for i in items if i.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_files)


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemplateDatabases]:
    templates = TemplateDatabases(tmp_path_factory.mktemp("databases"))
    yield templates
    templates.close()


@pytest.fixture
def redis_space() -> Iterator[dict[str, str]]:
    """Redis settings under a key namespace of this test's own, deleted afterwards."""
    with redis_settings() as settings:
        yield settings


@pytest.fixture(params=["sqlite", "postgres"])
def db_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_app(databases: TemplateDatabases, tmp_path: Path) -> Iterator[Any]:
    """make_app(backend="sqlite", **settings) -> a Flask app on a fresh migrated database."""
    from distserver import create_app
    from distserver.downloads import fastcache
    from distserver.extensions import db

    fastcache.clear()  # facts cached in this process belong to an earlier test's database
    made: list[tuple[Flask, str]] = []

    def make(backend: str = "sqlite", **overrides: Any) -> Flask:
        directory = tmp_path / f"app{len(made)}"
        directory.mkdir()
        url = databases.fresh(backend, directory)
        settings = {
            "ENV": "testing",
            "DATABASE_URL": url,
            "INSTANCE_DIR": str(directory / "instance"),
            "SECRET_KEY": TEST_SECRET,
            "STORAGE": "local",
            "TESTING": True,
        }
        settings.update(overrides)
        app = create_app(settings)
        made.append((app, url))
        return app

    yield make
    from distserver.jobs import stop_jobs

    for app, url in made:
        stop_jobs(app)  # the in-process job threads, before their database goes
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        databases.drop(url)


@pytest.fixture
def app(make_app: Any, db_backend: str) -> Iterator[Flask]:
    application = make_app(db_backend)
    with application.app_context():
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> World:
    return World(app, tmp_path / "sources")
