"""Done-when 5 of issue 14: a production-configured gunicorn (two workers, Prometheus
multiprocess mode) and the CLI are driven through sign-up-to-download work; every line
they wrote (the app's JSON log and gunicorn's on stderr, the access log on stdout, the
CLI's stderr) is read back and none carries an API token, a session cookie, a password,
a presigned query string or a /files/ token. The JSON request lines are checked for
their fields, and /metrics (scraped from loopback, as production allows by default)
parses and adds up both workers' counts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.job_processes import start_jobs
from tests.support.live_gunicorn import free_port, start_gunicorn
from tests.support.production import production_env
from tests.support.redis_namespace import redis_env
from tests.support.s3fixtures import s3_settings

pytestmark = [pytest.mark.slow]

BIN = Path(sys.executable).parent
PASSWORD = "a long passphrase for the log test"
WRONG = "not the passphrase at all"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def cli(args: list[str], env: dict[str, str], stderr_log: Path, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "distserver"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    with stderr_log.open("a") as fh:
        fh.write(done.stderr)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _set_cookie(response: requests.Response, name: str) -> str | None:
    match = re.search(rf"{name}=([^;]+)", response.headers.get("Set-Cookie", ""))
    return match.group(1) if match else None


def _exercise(base: str, token: str, secrets: list[str]) -> list[str]:
    """Drive the server the ways that carry credentials; returns the request ids."""
    http = requests.Session()
    http.trust_env = False
    auth = {"Authorization": f"Bearer {token}"}
    ids = []
    link = http.post(
        f"{base}/api/v1/models/acme/llm/links",
        json={"path": "config.json"},
        headers={**auth, "X-Request-ID": "prod-log-test-0001"},
    )
    assert link.status_code == 201, link.text
    ids.append(link.headers["X-Request-ID"])
    url = link.json()["url"]
    secrets.append(url.split("?", 1)[1] if "?" in url else url.split("/files/", 1)[1])
    assert http.get(url, timeout=30).status_code == 200
    tampered = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert http.get(tampered, timeout=30).status_code == 403
    dl = http.get(f"{base}/dl/{link.json()['link_id']}", headers=auth, allow_redirects=False)
    assert dl.status_code == 302
    secrets.append(dl.headers["Location"].split("?", 1)[-1].split("/files/")[-1])
    hf = http.get(f"{base}/acme/llm/resolve/main/config.json", headers=auth, allow_redirects=False)
    assert hf.status_code == 302, hf.text[:300]
    bad = http.get(f"{base}/api/v1/models?token={token}", headers={"Authorization": "Bearer x"})
    assert bad.status_code == 401
    # The web sign-in, with the session cookie sent back by hand (it is Secure, and this is
    # plain HTTP on loopback): a wrong password, then the right one, then a page.
    page = http.get(f"{base}/login")
    first = _set_cookie(page, "session")
    csrf = CSRF.search(page.text)
    assert csrf, page.text[:300]
    assert first, page.text[:300]
    form = {"csrf_token": csrf.group(1), "email": "r@example.org"}
    cookie = {"Cookie": f"session={first}"}
    wrong = http.post(f"{base}/login", data={**form, "password": WRONG}, headers=cookie)
    assert wrong.status_code == 401
    signed = http.post(
        f"{base}/login", data={**form, "password": PASSWORD}, headers=cookie, allow_redirects=False
    )
    assert signed.status_code == 302, signed.text[:300]
    session = _set_cookie(signed, "session")
    assert session
    secrets += [first, session]
    assert http.get(f"{base}/access", headers={"Cookie": f"session={session}"}).status_code == 200
    return ids


def _mailed_reset_token(base: str, outbox: Path) -> str:
    """Ask for a password reset; the worker mails it. Returns the mailed link's token."""
    http = requests.Session()
    http.trust_env = False
    page = http.get(f"{base}/forgot")
    csrf, cookie = CSRF.search(page.text), _set_cookie(page, "session")
    assert csrf, page.text[:300]
    assert cookie, page.text[:300]
    asked = http.post(
        f"{base}/forgot",
        data={"csrf_token": csrf.group(1), "email": "r@example.org"},
        headers={"Cookie": f"session={cookie}"},
        allow_redirects=False,
    )
    assert asked.status_code == 302, asked.text[:300]  # to the sign-in page, with a notice
    deadline = time.monotonic() + 60
    while not list(outbox.glob("*.json")):
        assert time.monotonic() < deadline, "the worker sent no reset mail within 60 s"
        time.sleep(0.2)
    (mail,) = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
    found = re.search(r"/reset/(\S+)", mail["body"])
    assert found, mail["body"]
    return found.group(1)


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_no_credential_in_any_line_a_production_run_writes(
    storage: str, tmp_path: Path, s3_peer: Any, redis_space: dict[str, str]
) -> None:
    port = free_port()  # local-backend links name the server: EXTERNAL_URL holds its port
    keys = production_env(tmp_path / "keys", external_url=f"http://127.0.0.1:{port}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    if storage == "s3":
        env.update(s3_peer.env())
        env.update({f"DISTSERVER_{k}": v for k, v in s3_settings(s3_peer).items()})
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env.update(
        {
            **keys,
            "DISTSERVER_INSTANCE_DIR": str(tmp_path / "instance"),
            "DISTSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            # Jobs (mail here) go through Redis to a real `distserver jobs worker`.
            **redis_env(redis_space),
        }
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    cli_log = logs / "cli-stderr.log"
    cli(["db", "upgrade"], env, cli_log)
    cli(["users", "create", "admin@example.org", "--role", "admin", "--password-stdin"], env,
        cli_log, stdin=PASSWORD + "\n")  # fmt: skip
    cli(["users", "create", "r@example.org", "--password-stdin"], env, cli_log, PASSWORD + "\n")
    token = cli(["tokens", "create", "r@example.org", "--name", "t"], env, cli_log)
    cli(["models", "create", "acme/llm", "--plan", "open"], env, cli_log)
    src = tmp_path / "w"
    src.mkdir()
    (src / "config.json").write_text("{}")
    cli(["models", "publish", "acme/llm", str(src)], env, cli_log)
    cli(["audit", "seal"], env, cli_log)

    server = start_gunicorn(env, logs / "gunicorn", workers=2, port=port)
    worker = start_jobs("worker", env, logs / "worker", "--processes", "1", "--threads", "2")
    secrets = [token, PASSWORD, WRONG, keys["DISTSERVER_SECRET_KEY"]]
    try:
        ids = _exercise(server.url, token, secrets)
        secrets.append(_mailed_reset_token(server.url, tmp_path / "instance" / "outbox"))
        http = requests.Session()
        http.trust_env = False
        # Several scrapes land on both workers; each answer adds up every worker's counts.
        for _ in range(4):
            http.post(f"{server.url}/api/v1/models/acme/llm/links", json={"path": "config.json"})
        scraped = http.get(f"{server.url}/metrics")
        assert scraped.status_code == 200, scraped.text
    finally:
        server.stop()
        worker.stop()

    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    issued = sum(
        s.value
        for s in families["distserver_links"].samples
        if s.name == "distserver_links_total" and s.labels["outcome"] == "issued"
    )
    assert issued >= 6  # two to the token holder, the HF door's, four anonymous ones
    assert "distserver_audit_sealing_lag_seconds" in families

    written = {str(p.relative_to(logs)): p.read_text() for p in logs.rglob("*.log")}
    assert "prod-log-test-0001" in written["gunicorn/stderr.log"]
    assert ids
    assert '"route":"/api/v1/models/<namespace>/<name>/links"' in written["gunicorn/stderr.log"]
    for name, text in written.items():
        leak = re.search(r"/files/(?!<token>|\[redacted\])[^\s\"]{8}", text)
        assert leak is None, f"a /files/ token ({leak and leak.group(0)}...) appears in {name}"
    markers = ("dst_", "X-Amz-Signature", "X-Amz-Credential", "session=", "token=")
    for name, text in written.items():
        for secret in (*secrets, *markers):
            assert secret not in text, f"{secret[:12]!r}... appears in {name}"
