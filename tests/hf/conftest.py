"""Fixtures of the Hugging Face door tests: an app on a live loopback server, with
the local backend or the real S3 peer, and the real huggingface_hub client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hf.live import Hub, HubClient, LiveServer
from tests.support.s3fixtures import s3_settings
from tests.support.world import World


@pytest.fixture(
    params=[("sqlite", "local"), ("postgres", "local"), ("sqlite", "s3"), ("postgres", "s3")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def hub(request: pytest.FixtureRequest, make_app: Any, tmp_path: Path) -> Iterator[Hub]:
    """The door on every database and storage backend."""
    yield from _hub(request, make_app, tmp_path, *request.param)


@pytest.fixture(params=[("postgres", "local"), ("sqlite", "s3")], ids=lambda p: f"{p[0]}-{p[1]}")
def hub2(request: pytest.FixtureRequest, make_app: Any, tmp_path: Path) -> Iterator[Hub]:
    """The door on two crossed combinations, for the refusal paths."""
    yield from _hub(request, make_app, tmp_path, *request.param)


def _hub(
    request: pytest.FixtureRequest, make_app: Any, tmp_path: Path, db: str, storage: str
) -> Iterator[Hub]:
    settings: dict[str, Any] = {}
    if storage == "s3":
        settings = s3_settings(request.getfixturevalue("s3_env"))
    app = make_app(db, **settings)
    server = LiveServer(app)
    home = tmp_path / "hf-home"
    home.mkdir()
    client = HubClient(server.url, home)
    try:
        with app.app_context():
            yield Hub(app, server, World(app, tmp_path / "sources"), client, storage)
    finally:
        client.close()
        server.stop()
