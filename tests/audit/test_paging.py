"""Keyset pagination (distserver.paging), as the audit pages use it: 50 events a page,
newest first, older and newer pages by event id, on SQLite and PostgreSQL. Walking
older to the end and back newer visits every event once each way, and rows written
meanwhile do not shift a page."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask

from distserver.audit.models import AuditEvent
from distserver.audit.queries import EventFilter, events_page
from distserver.extensions import db
from distserver.paging import Keyset, keyset_args
from tests.support.world import World
from tests.web.test_staff_pages import signed_in, staff


def _add(count: int) -> None:
    rows = [{"tag": "account:login:succeeded", "actor": f"u{i}@example.org"} for i in range(count)]
    db.session.execute(sa.insert(AuditEvent), rows)
    db.session.commit()


def test_pages_walk_every_event_once_each_way(app: Flask, world: World) -> None:
    _add(120)
    ids = sorted((e.id for e in world.events()), reverse=True)
    pages, keyset = [], Keyset()
    while True:
        page = events_page(db.session, EventFilter(), keyset)
        pages.append([e.id for e, _ in page.rows])
        assert (page.newer is None) == (len(pages) == 1)
        if page.older is None:
            break
        keyset = Keyset(before=page.older)
    assert [len(p) for p in pages] == [50, 50, len(ids) - 100]
    assert [i for p in pages for i in p] == ids

    _add(3)  # newer events meanwhile: the pages already seen stay as they were
    back = []
    keyset = Keyset(after=page.newer)
    while True:
        page = events_page(db.session, EventFilter(), keyset)
        back.append([e.id for e, _ in page.rows])
        if page.newer is None:
            break
        keyset = Keyset(after=page.newer)
    new = sorted((e.id for e in world.events() if e.id > ids[0]), reverse=True)
    assert len(new) == 3
    # Newer pages start from the key, so page 1 is the same 50 rows; the new ones follow.
    assert back == [pages[1], pages[0], new]


def test_bad_page_arguments_are_a_400(app: Flask, world: World) -> None:
    audrey = signed_in(app, staff(world, "audrey@example.org", "auditor"))
    for query in ("before=1&after=2", "before=x", "after=-1", "before=0"):
        assert audrey.get(f"/staff/audit?{query}").status_code == 400, query
    assert keyset_args({"cursor": "7"}) == Keyset(before=7)  # the older name of `before`


def test_the_release_console_pages_a_long_timeline(app: Flask, world: World) -> None:
    world.model("acme/llm", stage=None)
    rows = [
        {"tag": "release:evaluation:recorded", "actor": "s@example.org", "model": "acme/llm"}
        for _ in range(70)
    ]
    db.session.execute(sa.insert(AuditEvent), rows)
    db.session.commit()
    total = sum(
        1
        for e in world.events()
        if e.model == "acme/llm" and e.tag.startswith(("release:", "catalog:"))
    )
    adam = signed_in(app, staff(world, "adam@example.org", "admin"))
    first = adam.get("/staff/models/acme/llm/release").get_data(as_text=True)
    table = first[first.index('<table id="timeline">') :]
    assert table.count("<tr>") == 1 + 50  # the header row, then one page
    older = re.search(r'<a rel="next" href="([^"]+)"', table)
    assert older
    assert 'rel="prev"' not in table
    second = adam.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    table = second[second.index('<table id="timeline">') :]
    assert table.count("<tr>") == 1 + total - 50
    assert 'rel="prev"' in table
