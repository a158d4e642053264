"""The built wheel, installed as the image installs it: a fresh virtualenv, `pip install
dist/*.whl`, an empty working folder (holding only what the image copies beside the
package: docker/gunicorn.conf.py), production settings on a fresh PostgreSQL database
and the S3 peer. Everything the server needs at run time must come from the wheel."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.e2e.image import DOCKER_DIR, dockerfile_command
from tests.support.databases import PG_ADMIN_URL, pg_admin_engine
from tests.support.production import production_env
from tests.support.s3fixtures import s3_settings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.s3]

ROOT = Path(__file__).resolve().parents[2]
# What a source distribution of the project holds; the build sees nothing else.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "distserver", "config", "migrations", "tiers")


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with only the built wheel (and its dependencies) installed."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if not (ROOT / name).exists():
            continue
        if (ROOT / name).is_dir():
            shutil.copytree(
                ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(ROOT / name, source / name)
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), "."],
        cwd=source,
        timeout=300,
    )
    assert built.returncode == 0, f"building the wheel failed:\n{built.stderr[-3000:]}"
    wheels = list((root / "dist").glob("distserver-*.whl"))
    assert len(wheels) == 1, wheels
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    assert made.returncode == 0, made.stderr
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    done = _run([*pip, "install", "-q", "--no-compile", str(wheels[0])], timeout=600)
    assert done.returncode == 0, f"pip install of the wheel failed:\n{done.stderr[-3000:]}"
    return venv


@pytest.fixture
def pg_database() -> Iterator[str]:
    engine = pg_admin_engine()
    name = f"dst_wheel_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(base: str, server: subprocess.Popen[str], log: Path) -> None:
    http = requests.Session()
    http.trust_env = False
    deadline = time.monotonic() + 60
    while True:
        try:
            if http.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert server.poll() is None, f"the server exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no answer on /healthz in 60 s:\n{log.read_text()}"
        time.sleep(0.25)


def test_the_installed_wheel_migrates_publishes_serves_and_seals_from_an_empty_folder(
    installed: Path, pg_database: str, s3_env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    work = tmp_path / "work"
    (work / "docker").mkdir(parents=True)
    shutil.copy2(DOCKER_DIR / "gunicorn.conf.py", work / "docker" / "gunicorn.conf.py")
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DISTSERVER_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update({f"DISTSERVER_{k}": v for k, v in s3_settings(s3_env).items()})
    env.update(production_env(tmp_path / "keys"))
    env.update(
        {
            "DISTSERVER_DATABASE_URL": pg_database,
            "PATH": f"{installed / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
        }
    )

    def cli(*args: str, stdin: str | None = None) -> str:
        done = _run(
            [str(installed / "bin" / "distserver"), *args],
            cwd=work,
            env=env,
            input=stdin,
            timeout=120,
        )
        assert done.returncode == 0, f"distserver {' '.join(args)}:\n{done.stderr}"
        return done.stdout.strip()

    where = _run(
        [str(installed / "bin" / "python"), "-c", "import distserver; print(distserver.__file__)"],
        cwd=work,
        env=env,
        timeout=60,
    )
    assert "site-packages" in where.stdout, where.stdout + where.stderr

    cli("db", "upgrade")
    cli("db", "upgrade")  # safe to run on every deploy
    cli(
        "users",
        "create",
        "lead@lab.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough pass phrase\n",
    )
    cli("users", "create", "ann@uni.edu")
    token = cli("tokens", "create", "ann@uni.edu", "--name", "laptop")
    cli("models", "create", "acme/llm", "--plan", "open")
    weights = tmp_path / "weights"
    weights.mkdir()
    payload = os.urandom(200_000)
    (weights / "model.safetensors").write_bytes(payload)
    commit = cli("models", "publish", "acme/llm", str(weights), "--as", "lead@lab.org")
    assert re.fullmatch(r"[0-9a-f]{40}", commit), commit

    command = dockerfile_command()
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            command, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    http.trust_env = False
    try:
        _wait_for(base, server, log)
        link = http.post(
            f"{base}/api/v1/models/acme/llm/links",
            json={"path": "model.safetensors"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert link.status_code == 201, link.text
        body = http.get(link.json()["url"], timeout=30)
        assert body.status_code == 200
        assert hashlib.sha256(body.content).hexdigest() == hashlib.sha256(payload).hexdigest()
        assert link.json()["sha256"] == hashlib.sha256(payload).hexdigest()
        assert http.get(f"{base}/readyz", timeout=30).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert re.match(r"sealed [1-9][0-9]* events", cli("audit", "seal"))
    cli("audit", "verify")
    # Nothing was written beside the working folder's instance directory.
    assert sorted(p.name for p in work.iterdir()) == ["docker", "instance"]
