"""What the container image runs, read from docker/Dockerfile, so the wheel test runs
exactly the image's command and the compose test can check the compose file against it."""

from __future__ import annotations

import json
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parents[2] / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"


def dockerfile_command() -> list[str]:
    """The image's CMD, which must be in exec (JSON array) form."""
    commands = [
        line.removeprefix("CMD").strip()
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("CMD ")
    ]
    assert commands, f"{DOCKERFILE.name} has no CMD"
    command = json.loads(commands[-1])
    assert isinstance(command, list)
    assert all(isinstance(part, str) for part in command)
    return command
