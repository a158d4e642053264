"""Issue 16, done-when 4: a model's download statistics, on its staff page (an SVG
chart with its numbers as a table) and in the API, agree with the audit log.

Downloads go through the real doors (the native API, the Hugging Face resolve, the
web page, an anonymous caller; on PostgreSQL the Bearer requests take the fast path),
with a refusal, another model's download and an event older than the window mixed
in; then the page's tables, the API's numbers and the Hugging Face `downloads` field
are compared with a count made in Python from every audit event."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from flask import Flask

from distserver.extensions import db
from tests.accounts.helpers import PASSWORD, csrf
from tests.support.world import World
from tests.web.test_staff_pages import signed_in, staff

DAYS = 30
STATS = "/api/v1/models/acme/llm/statistics"
CONSOLE = "/staff/models/acme/llm/release"


class Tables(HTMLParser):
    """The text of every cell of every table with an id, and of every element with an
    id starting with `stats-`."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._text: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id") or ""
        if tag == "table" and ident:
            self._table = ident
            self.tables[ident] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif ident.startswith("stats-") and tag == "dd":
            self._text = ident
            self.texts[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "dd":
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._text:
            self.texts[self._text] += data


def parse(html: str) -> Tables:
    tables = Tables()
    tables.feed(html)
    return tables


def table_counts(rows: list[list[str]]) -> Counter[tuple[str, str]]:
    """{(day, series): count} from a chart's table (header row first, total last)."""
    header, *body = rows
    counts: Counter[tuple[str, str]] = Counter()
    for row in body:
        if len(row) < len(header):
            continue  # "No downloads in these days."
        for name, cell in zip(header[1:-1], row[1:-1], strict=True):
            if int(cell):
                counts[row[0], name] += int(cell)
    return counts


def _old_download(now: datetime) -> None:
    """An issued link older than the window: in the log, in no figure."""
    row = {
        "occurred_at": now - timedelta(days=DAYS + 5),
        "tag": "download:link:issued",
        "actor": "anonymous",
        "model": "acme/llm",
        "path": "config.json",
        "tier": "public",
        "data": json.dumps({"door": "api"}),
    }
    db.session.execute(sa.insert(sa.table("audit_events", *(sa.column(k) for k in row))), row)
    db.session.commit()


def test_the_chart_the_api_and_the_hf_downloads_agree_with_the_audit_log(
    app: Flask, world: World, db_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="distserver.downloads")
    model = world.model("acme/llm")  # general availability: public, researcher, partner
    world.model("acme/other", stage="research-access")
    rita = world.person("rita@example.org", tiers=("researcher",), password=PASSWORD)
    paul = world.person("paul@example.org", tiers=("vetted_partner",), model=model)
    admin = staff(world, "adam@example.org", "admin")
    client = app.test_client()
    now = datetime.now(UTC)
    _old_download(now)

    def link(path: str, headers: dict[str, str] | None = None, ref: str = "acme/llm") -> int:
        return client.post(
            f"/api/v1/models/{ref}/links", json={"path": path}, headers=headers or {}
        ).status_code

    # The native API: signed-in and anonymous callers; one refusal, another model.
    assert link("model.safetensors", rita.auth) == 201
    assert link("model.safetensors", rita.auth) == 201
    assert link("config.json", paul.auth) == 201
    assert link("config.json") == 201
    assert link("config.json", ref="acme/other") == 401  # login_required: not counted
    assert link("config.json", rita.auth, ref="acme/other") == 201  # another model
    # The Hugging Face door.
    for path in ("config.json", "sub/tokenizer.json"):
        answer = client.get(f"/acme/llm/resolve/main/{path}", headers=paul.auth)
        assert answer.status_code == 302, answer.headers
    # The web page's download button, signed in.
    web = app.test_client()
    web.post(
        "/login",
        data={"csrf_token": csrf(web), "email": rita.user.email, "password": PASSWORD},
    )
    answer = web.post(
        "/models/acme/llm/download",
        data={"csrf_token": csrf(web, "/models/acme/llm"), "path": "model.safetensors"},
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]

    paths = {
        r.getMessage().split(" fast=")[-1] for r in caplog.records if " fast=" in r.getMessage()
    }
    # On PostgreSQL the Bearer requests took the fast path, the others the ORM path.
    assert paths == ({"True", "False"} if db_backend == "postgres" else {"False"}), paths

    # The count made directly from the log: every issued link of acme/llm in the window.
    start = datetime.combine(now.date() - timedelta(days=DAYS - 1), datetime.min.time(), UTC)
    issued = [
        e
        for e in world.events("download:link:issued")
        if e.model == "acme/llm" and e.occurred_at >= start
    ]
    door = {e.id: json.loads(e.data)["door"] for e in issued}
    assert set(door.values()) == {"api", "hf", "web"}, door
    by_tier = Counter((e.occurred_at.date().isoformat(), e.tier) for e in issued)
    by_door = Counter((e.occurred_at.date().isoformat(), door[e.id]) for e in issued)
    recipients = {e.actor_id for e in issued if e.actor_id is not None}
    anonymous = sum(1 for e in issued if e.actor_id is None)
    files = Counter(e.path for e in issued)
    assert len(issued) == 7
    assert recipients == {rita.user.id, paul.user.id}
    assert anonymous == 1

    # The API.
    stats = client.get(STATS, headers=admin.auth).get_json()
    assert stats["downloads"] == len(issued)
    assert stats["unique_recipients"] == len(recipients)
    assert stats["anonymous_downloads"] == anonymous
    assert len(stats["per_day"]) == DAYS
    assert stats["to"] == now.date().isoformat()
    api_tiers = Counter(
        {(d["day"], t): n for d in stats["per_day"] for t, n in d["by_tier"].items()}
    )
    api_doors = Counter(
        {(d["day"], k): n for d in stats["per_day"] for k, n in d["by_door"].items()}
    )
    assert api_tiers == by_tier
    assert api_doors == by_door
    assert {f["path"]: f["downloads"] for f in stats["top_files"]} == dict(files)
    assert [f["downloads"] for f in stats["top_files"]] == sorted(files.values(), reverse=True)

    # The staff page: the charts' tables, the figures, the top files.
    page = signed_in(app, admin).get(CONSOLE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<svg id="stats-tier"' in html
    assert '<svg id="stats-door"' in html
    found = parse(html)
    assert table_counts(found.tables["stats-tier-table"]) == by_tier
    titles = {"api": "native API", "hf": "Hugging Face", "web": "web page"}
    assert table_counts(found.tables["stats-door-table"]) == Counter(
        {(day, titles[door]): n for (day, door), n in by_door.items()}
    )
    assert int(found.texts["stats-total"]) == len(issued)
    assert int(found.texts["stats-recipients"]) == len(recipients)
    assert int(found.texts["stats-anonymous"]) == anonymous
    top = {path: int(n) for path, n in found.tables["stats-top-files"][1:]}
    assert top == dict(files)

    # The Hugging Face door's `downloads`: the same count over the same 30 days.
    info = client.get("/api/models/acme/llm", headers=rita.auth).get_json()
    assert info["downloads"] == len(issued)


def test_only_the_model_staff_may_read_its_statistics(app: Flask, world: World) -> None:
    world.model("acme/llm", stage=None)  # internal: visible to staff only
    world.model("acme/open", plan="open")
    rita = world.person("rita@example.org", tiers=("researcher",))
    auditor = staff(world, "audrey@example.org", "auditor")
    reviewer = staff(world, "rev@example.org", "reviewer")
    client = app.test_client()

    assert client.get(STATS, headers=auditor.auth).status_code == 200
    assert client.get(STATS).status_code == 401
    assert client.get(STATS, headers=rita.auth).status_code == 404  # hidden, as if absent
    assert client.get(STATS, headers=reviewer.auth).status_code == 403
    refused = client.get("/api/v1/models/acme/open/statistics", headers=rita.auth)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert client.get(STATS + "?days=0", headers=auditor.auth).status_code == 400
    assert client.get(STATS + "?days=367", headers=auditor.auth).status_code == 400
    week = client.get(STATS + "?days=7", headers=auditor.auth).get_json()
    assert week["days"] == 7
    assert len(week["per_day"]) == 7
    assert week["downloads"] == 0
