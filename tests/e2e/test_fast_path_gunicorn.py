"""The download fast path under gunicorn as deployed (docker/gunicorn.conf.py, two
workers with four threads each) on the real PostgreSQL: the quota is exact across
workers, and under faults (a worker killed with SIGKILL, the database's connections
cut and refused for a while) every URL a client received has its committed event,
requests during the outage answer 503 in the JSON error shape, and the server
recovers without a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import sqlalchemy as sa

from distserver.config import PROJECT_DIR
from distserver.downloads.models import DownloadLink
from distserver.extensions import db
from tests.e2e.test_gunicorn_logs import free_port
from tests.integration.test_faults import set_connections
from tests.support.databases import TEST_SECRET
from tests.support.tiers import tiers_with
from tests.support.world import Person, World

BIN = Path(sys.executable).parent
LINKS = "/api/v1/models/acme/llm/links"


@dataclass
class Served:
    base: str
    process: subprocess.Popen[bytes]
    people: list[Person]
    database: str
    logs: Path

    def children(self) -> list[int]:
        """The worker pids of this gunicorn (children of its master)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(entry.name))
        return pids


@contextmanager
def gunicorn(make_app, tmp_path: Path, *, quota: int, people: int) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    tiers = tiers_with(tmp_path, {"researcher": {"daily_quota": quota}})
    app = make_app("postgres", TIERS_DIR=str(tiers))
    with app.app_context():
        world = World(app, tmp_path / "src")
        world.model("acme/llm", stage="research-access")
        persons = [world.person(f"r{i}@example.org", tiers=("researcher",)) for i in range(people)]
        db.session.remove()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTSERVER_")}
    env.update(
        {
            "DISTSERVER_ENV": "testing",
            "DISTSERVER_DATABASE_URL": app.config["DATABASE_URL"],
            "DISTSERVER_INSTANCE_DIR": app.instance_path,
            "DISTSERVER_SECRET_KEY": TEST_SECRET,
            "DISTSERVER_STORAGE": "local",
            "DISTSERVER_TIERS_DIR": str(tiers),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "4",
        }
    )
    logs = tmp_path / "gunicorn.log"
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "docker/gunicorn.conf.py", "wsgi:app"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=logs.open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    served = Served(base, server, persons, app.config["DATABASE_URL"].rsplit("/", 1)[1], logs)
    try:
        _wait(served)
        yield served
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    with app.app_context():
        db.session.remove()


def _wait(served: Served) -> None:
    http = _session()
    deadline = time.monotonic() + 90
    while True:
        try:
            if http.get(f"{served.base}/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            assert served.process.poll() is None, served.logs.read_text()[-3000:]
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz in 90 s"
            time.sleep(0.25)
    # Both workers: each answers once it has loaded the app.
    while len(served.children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.25)


def _session() -> requests.Session:
    http = requests.Session()
    http.trust_env = False
    return http


def _committed(app_db: str) -> tuple[set[str], set[str]]:
    """(link ids of committed issued events, ids of committed link rows)."""
    engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{app_db}")
    try:
        with engine.connect() as conn:
            events = set(
                conn.scalars(
                    sa.text("SELECT link_id FROM audit_events WHERE tag = 'download:link:issued'")
                )
            )
            links = set(conn.scalars(sa.select(DownloadLink.id)))
    finally:
        engine.dispose()
    return events, links


def test_500_concurrent_requests_against_a_quota_of_100_through_gunicorn(  # type: ignore[no-untyped-def]
    make_app, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with gunicorn(make_app, tmp_path, quota=100, people=1) as served:
        person = served.people[0]
        local = threading.local()

        def one(_: int) -> tuple[int, str]:
            http = getattr(local, "http", None) or _session()
            local.http = http
            r = http.post(
                served.base + LINKS, json={"path": "config.json"}, headers=person.auth, timeout=60
            )
            return r.status_code, r.json().get("error", {}).get("code", "")

        with ThreadPoolExecutor(32) as pool:
            outcomes = Counter(pool.map(one, range(500)))
        assert outcomes == {(201, ""): 100, (429, "quota_exceeded"): 400}, outcomes
        engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{served.database}")
        with engine.connect() as conn:
            tags = dict(
                conn.execute(
                    sa.text(
                        "SELECT tag, count(*) FROM audit_events"
                        " WHERE tag LIKE 'download:link:%' GROUP BY tag"
                    )
                ).all()
            )
            links = conn.scalar(sa.text("SELECT count(*) FROM download_links"))
        engine.dispose()
        assert tags == {"download:link:issued": 100, "download:link:refused": 400}
        assert links == 100


class Load:
    """Threads sending link requests back to back, recording every answer."""

    def __init__(self, served: Served, threads: int = 8) -> None:
        self.served = served
        self.stop = threading.Event()
        self.answers: list[tuple[int, dict]] = []
        self.errors = 0
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(served.people[i % len(served.people)],))
            for i in range(threads)
        ]

    def _run(self, person: Person) -> None:
        http = _session()
        while not self.stop.is_set():
            try:
                r = http.post(
                    self.served.base + LINKS,
                    json={"path": "config.json"},
                    headers=person.auth,
                    timeout=30,
                )
                answer = (r.status_code, r.json())
            except (requests.RequestException, ValueError):
                with self.lock:
                    self.errors += 1  # the connection died with its worker
                http = _session()
                continue
            with self.lock:
                self.answers.append(answer)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def received(self) -> set[str]:
        return {body["link_id"] for status, body in self.answers if status == 201}


def test_a_worker_killed_mid_run_loses_no_event(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with gunicorn(make_app, tmp_path, quota=100000, people=4) as served:
        with Load(served) as load:
            time.sleep(2)
            victim = served.children()[0]
            os.kill(victim, signal.SIGKILL)  # a worker of the gunicorn this test started
            time.sleep(3)
        statuses = Counter(status for status, _ in load.answers)
        assert set(statuses) == {201}, statuses
        events, links = _committed(served.database)
        received = load.received()
        assert received, "no link was issued during the run"
        assert received <= events, f"{len(received - events)} URLs without a committed event"
        assert events == links
        # The master replaced the worker; the server answers without a restart.
        after = _session().post(
            served.base + LINKS, json={"path": "config.json"}, headers=served.people[0].auth
        )
        assert after.status_code == 201
        print(f"\nkill -9: {statuses[201]} links, {load.errors} connections cut")


def test_a_database_outage_mid_run_answers_503_and_recovers(make_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with gunicorn(make_app, tmp_path, quota=100000, people=4) as served:
        with Load(served) as load:
            time.sleep(2)
            # What a PostgreSQL restart does to this database: every connection is
            # cut, and new ones are refused until it is back.
            set_connections(served.database, False)
            time.sleep(2)
            set_connections(served.database, True)
            time.sleep(3)
        statuses = Counter(status for status, _ in load.answers)
        assert set(statuses) <= {201, 503}, statuses
        assert statuses[503] >= 1, statuses
        for status, body in load.answers:
            if status == 503:
                assert body == {
                    "error": {
                        "code": "database_unavailable",
                        "message": "The database is unavailable; retry shortly.",
                    }
                }, body
        # Recovered within the run: the last answers are links again.
        assert load.answers[-1][0] == 201
        events, links = _committed(served.database)
        assert load.received() <= events
        assert events == links
        print(f"\noutage: {dict(statuses)}")
