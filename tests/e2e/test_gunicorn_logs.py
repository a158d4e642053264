"""The app under gunicorn, as in production: links work, and no secret (token, session
cookie, presigned signature) reaches any log it writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from distserver.config import PROJECT_DIR
from tests.support.production import production_env
from tests.support.s3fixtures import s3_settings

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_no_secret_in_any_log(tmp_path: Path, s3_env) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    keys = production_env(tmp_path / "keys")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update({f"DISTSERVER_{k}": v for k, v in s3_settings(s3_env).items()})
    env.update(
        {
            **keys,
            "DISTSERVER_INSTANCE_DIR": str(tmp_path / "instance"),
            "DISTSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
        }
    )
    cli = [str(BIN / "distserver")]
    run([*cli, "db", "upgrade"], env)
    run([*cli, "users", "create", "r@example.org"], env)
    token = run([*cli, "tokens", "create", "r@example.org", "--name", "t"], env)
    run([*cli, "models", "create", "acme/llm", "--plan", "open"], env)
    src = tmp_path / "w"
    src.mkdir()
    (src / "config.json").write_text("{}")
    run([*cli, "models", "publish", "acme/llm", str(src)], env)
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "docker/gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=(logs / "stdout.log").open("w"),
        stderr=(logs / "stderr.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    http.trust_env = False
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if http.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or workers still loading
                assert server.poll() is None, (logs / "stderr.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer /healthz in 90 s"
                time.sleep(0.25)
        auth = {"Authorization": f"Bearer {token}"}
        link = http.post(
            f"{base}/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=auth
        )
        assert link.status_code == 201, link.text
        assert "X-Amz-Signature=" in link.json()["url"]
        assert http.get(link.json()["url"], timeout=10).status_code == 200
        assert (
            http.get(
                f"{base}/dl/{link.json()['link_id']}", headers=auth, allow_redirects=False
            ).status_code
            == 302
        )
        # One character changed (a token already ending in "x" would stay valid).
        typo = "y" if token.endswith("x") else "x"
        bad = {"Authorization": f"Bearer {token[:-1]}{typo}"}
        assert (
            http.post(
                f"{base}/api/v1/models/acme/llm/links", json={"path": "x"}, headers=bad
            ).status_code
            == 401
        )
        assert http.get(f"{base}/readyz").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
    written = {p.name: p.read_text() for p in logs.iterdir()}
    assert "POST /api/v1/models/acme/llm/links" in written["stdout.log"] + written["stderr.log"]
    for name, text in written.items():
        markers = ("dst_", "X-Amz-Signature=", "X-Amz-Credential=", "session=")
        keys_used = (keys["DISTSERVER_SECRET_KEY"], keys["DISTSERVER_TOTP_ENCRYPTION_KEY"])
        for secret in (*markers, *keys_used):
            assert secret not in text, f"{secret!r} appears in {name}"


def _serve(
    tmp_path: Path, env: dict[str, str], port: int | None = None
) -> tuple[subprocess.Popen[bytes], Path, str]:
    """gunicorn with the shipped config; its logs go to files under tmp_path/logs.
    `port`: chosen beforehand when the settings must name it (EXTERNAL_URL)."""
    port = port or free_port()
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "docker/gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=(logs / "stdout.log").open("w"),
        stderr=(logs / "stderr.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return server, logs, base
        except requests.RequestException:  # not listening yet, or workers still loading
            assert server.poll() is None, (logs / "stderr.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz in 90 s"
            time.sleep(0.25)


def test_gunicorn_access_log_has_no_files_token_on_the_local_backend(tmp_path: Path) -> None:
    """The local backend's links carry their credential in the path (/files/<token>),
    mailed links too (/reset/<token>); the shipped config logs no credential at all.
    The same server caps a chunked body (MAX_CONTENT_LENGTH) with a 413 in JSON."""
    port = free_port()  # /files/ links name the server: EXTERNAL_URL holds its port
    keys = production_env(tmp_path / "keys", external_url=f"http://127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update(
        {
            **keys,
            "DISTSERVER_STORAGE": "local",
            "DISTSERVER_INSTANCE_DIR": str(tmp_path / "instance"),
            "DISTSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
        }
    )
    cli = [str(BIN / "distserver")]
    run([*cli, "db", "upgrade"], env)
    run([*cli, "users", "create", "r@example.org"], env)
    token = run([*cli, "tokens", "create", "r@example.org", "--name", "t"], env)
    run([*cli, "models", "create", "acme/llm", "--plan", "open"], env)
    src = tmp_path / "w"
    src.mkdir()
    (src / "config.json").write_text("{}")
    run([*cli, "models", "publish", "acme/llm", str(src)], env)
    server, logs, base = _serve(tmp_path, env, port)
    http = requests.Session()
    http.trust_env = False
    auth = {"Authorization": f"Bearer {token}"}
    try:
        link = http.post(
            f"{base}/api/v1/models/acme/llm/links", json={"path": "config.json"}, headers=auth
        )
        assert link.status_code == 201, link.text
        url = link.json()["url"]
        file_token = url.split("/files/", 1)[1].split("?", 1)[0]
        assert len(file_token) > 20
        assert http.get(url, timeout=10).status_code == 200
        assert http.get(url, headers={"Range": "bytes=0-0"}, timeout=10).status_code == 206
        # Referer and /dl/ carry the link too; a mailed reset token in its path.
        followed = http.get(
            f"{base}/dl/{link.json()['link_id']}",
            headers={**auth, "Referer": url},
            allow_redirects=False,
        )
        assert followed.status_code == 302
        reset_token = "resettoken" + "x" * 30
        http.get(f"{base}/reset/{reset_token}")
        # A chunked body over MAX_CONTENT_LENGTH is refused with the JSON error.
        big = (b'{"path": "config.json", "pad": "' + b"x" * 65536 + b'"' for _ in range(40))
        chunked = http.post(
            f"{base}/api/v1/models/acme/llm/links",
            data=big,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert chunked.status_code == 413, chunked.text
        assert chunked.json()["error"]["code"] == "too_large"
    finally:
        server.terminate()
        server.wait(timeout=30)
    written = {p.name: p.read_text() for p in logs.iterdir()}
    every = written["stdout.log"] + written["stderr.log"]
    assert "GET /files/" in every
    assert "GET /reset/" in every
    for name, text in written.items():
        for secret in (file_token, reset_token, token, "dst_", "session="):
            assert secret not in text, f"{secret!r} appears in {name}"
