"""Issue 16, done-when 5: the audit page fits a 1200 px wide window (chromium measures
document.documentElement.scrollWidth) and pages its events, about 50 a page, with
links to older and newer pages, keyset by event id. The events are realistic: long
paths, addresses, user agents, tags and reasons, some sealed and some not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from distserver.audit.keys import signing_key
from distserver.audit.sealing import seal_pending
from distserver.extensions import db
from tests.accounts.helpers import PASSWORD
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import LiveServer
from tests.browser.navigation import follow
from tests.browser.test_staff_journeys import creds, sign_in
from tests.support.world import World

WIDTH = 1200
EVENTS = 130
MODEL = "acme-research-lab/llama-style-instruct-70b"
TAGS = (
    "download:link:issued",
    "download:link:refused",
    "access:application:submitted",
    "account:login:succeeded",
    "release:evaluation:recorded",
)


def _events(now: datetime) -> list[dict[str, Any]]:
    """Events as the log holds them; every tenth one with the longest values a column
    takes (a 64-character e-mail, an IPv6 address, a deep path), which must wrap
    rather than widen the page."""
    rows = []
    for i in range(EVENTS):
        long = i % 10 == 0
        rows.append(
            {
                "occurred_at": now - timedelta(minutes=EVENTS - i),
                "tag": TAGS[i % len(TAGS)],
                "actor_id": 100 + i % 3,
                "actor": (
                    f"researcher.with.a.long.name{i % 3}@university-of-somewhere.example.org"
                    if long
                    else f"researcher{i % 3}@university.example.org"
                ),
                "address": f"2001:db8:85a3:8d3:1319:8a2e:370:{7000 + i}"
                if long
                else f"198.51.100.{i}",
                "user_agent": "huggingface_hub/2.4.0; python/3.11.9; torch/2.5.1",
                "model": MODEL,
                "path": (
                    f"checkpoints/final/weights/model-{i:05d}-of-00130.safetensors"
                    if long
                    else f"model-{i:05d}-of-00130.safetensors"
                ),
                "tier": ("researcher", "vetted_partner", "public")[i % 3],
                "reason": "quota_exceeded" if i % 5 == 1 else None,
                "data": json.dumps({"door": "hf"}),
            }
        )
    return rows


def measure(page: Any) -> tuple[int, int]:
    return page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )


def first_time(page: Any) -> str:
    return page.inner_text("#events tbody tr >> nth=0 >> td >> nth=0")


def test_the_audit_page_fits_1200_px_and_pages_its_events(
    live_server: LiveServer, page: Any
) -> None:
    with live_server.app.app_context():
        world = World(live_server.app, Path(live_server.app.instance_path) / "sources")
        world.model(MODEL)
        audrey = creds(world.person("audrey@example.org", roles=("auditor",), password=PASSWORD))
        rows = _events(datetime.now(UTC))
        db.session.execute(sa.insert(sa.table("audit_events", *map(sa.column, rows[0]))), rows)
        db.session.commit()
        seal_pending(db.session, signing_key(live_server.app.config))
        late = _events(datetime.now(UTC))[:10]  # newer and not yet sealed
        db.session.execute(sa.insert(sa.table("audit_events", *map(sa.column, late[0]))), late)
        db.session.commit()

    page.set_viewport_size({"width": WIDTH, "height": 900})
    sign_in(page, live_server, audrey)
    with live_server.app.app_context():
        total = len(World.events())  # these, the seeding's own and the sign-in's
    assert 100 < total <= 150
    figures = {}
    for path in (
        "/staff/audit",
        "/staff/audit/users/researcher.with.a.long.name1@university-of-somewhere.example.org",
        f"/staff/audit/models/{MODEL}",
    ):
        page.goto(live_server.at(path))
        assert_accessible(page)
        figures[path] = measure(page)
    print("\n(scrollWidth, scrollHeight) at 1200 px:", figures)
    assert all(width <= WIDTH for width, _ in figures.values()), figures

    # Page 1 of the audit log: 50 events, newest first, a link to older ones only.
    page.goto(live_server.at("/staff/audit"))
    _, height = measure(page)
    assert page.locator("#events tbody tr").count() == 50
    assert page.locator("a[rel=prev]").count() == 0
    # 50 rows of two or three short lines, not the 6,200 px page of before.
    assert height < 4500, height
    newest = first_time(page)
    follow(page, "a[rel=next]")
    assert_accessible(page)
    assert page.locator("#events tbody tr").count() == 50
    second = first_time(page)
    follow(page, "a[rel=next]")
    assert page.locator("#events tbody tr").count() == total - 100
    assert page.locator("a[rel=next]").count() == 0  # the oldest page
    follow(page, "a[rel=prev]")
    assert page.locator("#events tbody tr").count() == 50
    assert first_time(page) == second
    follow(page, "a[rel=prev]")
    assert first_time(page) == newest
    assert page.locator("#events tbody tr").count() == 50
    assert page.locator("a[rel=prev]").count() == 0


def test_the_statistics_on_the_release_console_are_accessible_and_fit(
    live_server: LiveServer, page: Any
) -> None:
    with live_server.app.app_context():
        world = World(live_server.app, Path(live_server.app.instance_path) / "sources")
        world.model(MODEL, stage=None)
        adam = creds(world.person("adam@example.org", roles=("admin",), password=PASSWORD))
        rows = [r for r in _events(datetime.now(UTC)) if r["tag"] == "download:link:issued"]
        db.session.execute(sa.insert(sa.table("audit_events", *map(sa.column, rows[0]))), rows)
        db.session.commit()

    page.set_viewport_size({"width": WIDTH, "height": 900})
    sign_in(page, live_server, adam)
    page.goto(live_server.at(f"/staff/models/{MODEL}/release"))
    assert_accessible(page)
    assert page.locator("svg#stats-tier rect.bar").count() > 0
    assert page.locator("svg#stats-door rect.bar").count() > 0
    assert int(page.inner_text("#stats-total")) == len(rows)
    page.locator("#statistics").scroll_into_view_if_needed()
    page.shot("statistics")
    width, _ = measure(page)
    assert width <= WIDTH, width
