"""The staff pages through Flask's test client: the release console walks a gate
(evaluation, sign-offs, promotion) with the services' refusals flashed, auditors read
only, the audit page filters, charts and exports, and no page (the console's model and
grant pages included) runs more than 10 SQL statements."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from distserver.access.models import Grant
from distserver.accounts.services import principal_for
from distserver.audit.keys import signing_key
from distserver.audit.queries import EventFilter, downloads_per_day
from distserver.audit.sealing import seal_pending
from distserver.catalog.publish import publish
from distserver.extensions import db
from distserver.releases import services
from tests.accounts.helpers import PASSWORD, csrf_from, sign_in
from tests.support.world import DEFAULT_FILES, Person, World

CONSOLE = "/staff/models/acme/llm/release"
MAX_QUERIES = 10


def staff(world: World, email: str, *roles: str, **kw: object) -> Person:
    return world.person(email, roles=roles or ("safety",), password=PASSWORD, **kw)  # type: ignore[arg-type]


def signed_in(app: Flask, person: Person) -> FlaskClient:
    client = app.test_client()
    answer = sign_in(client, person.user.email, totp_secret=person.totp_secret)
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return client


def post(client: FlaskClient, url: str, **data: str) -> str:
    """Post a console form (with the page's CSRF token); return the page it lands on."""
    token = csrf_from(client.get(CONSOLE).get_data(as_text=True))
    answer = client.post(url, data={"csrf_token": token, **data}, follow_redirects=True)
    assert answer.status_code == 200, answer.status_code
    return answer.get_data(as_text=True)


def counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def listen(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)


count_queries = contextmanager(counted)


def test_console_walks_a_gate_with_refusals_flashed(app: Flask, world: World) -> None:
    model = world.model("acme/llm", stage=None)  # internal
    alice, bob, carol = (staff(world, f"{n}@example.org") for n in ("alice", "bob", "carol"))
    a, b = signed_in(app, alice), signed_in(app, bob)

    page = a.get(CONSOLE).get_data(as_text=True)
    assert "Gate of partner-preview" in page
    assert page.count('data-met="no"') == 3  # two evaluations, the sign-offs
    assert "evaluation red-team: no result" in page

    page = post(a, CONSOLE + "/evaluations", name="red-team", result="pass", report="rt-1.pdf")
    assert "Evaluation red-team recorded." in page
    assert "evaluation red-team: passed (rt-1.pdf)" in page
    page = post(a, CONSOLE + "/evaluations", name="jailbreak", result="pass", report="x")
    assert "does not ask for evaluation &#39;jailbreak&#39;" in page
    page = post(a, CONSOLE + "/evaluations", name="dangerous-capabilities", result="pass")
    assert "This field is required." in page  # the form's own check: a report reference
    post(a, CONSOLE + "/evaluations", name="dangerous-capabilities", result="pass", report="dc")

    page = post(a, CONSOLE + "/signoffs", note="looks good")
    assert "separation of duties" in page  # alice recorded evaluations
    page = post(b, CONSOLE + "/promote")
    assert "Promotion of acme/llm to partner-preview refused" in page
    assert "sign-offs from safety staff: 0 of 2" in page
    page = post(b, CONSOLE + "/signoffs", note="reviewed the reports")
    assert "Your sign-off is recorded." in page
    assert "already signed off" in post(b, CONSOLE + "/signoffs")
    with app.app_context():
        services.signoff(db.session, model, world.rt.plans, principal_for(carol.user, "t"))
    page = post(b, CONSOLE + "/promote", note="go")
    assert "Promoted to the next stage." in page
    assert 'id="stage">Partner preview (partner-preview)' in page
    assert "release:stage:promoted" in page
    assert "release:signoff:recorded" in page


def test_the_publisher_cannot_sign_off(app: Flask, world: World, tmp_path: Path) -> None:
    model = world.model("acme/llm", stage=None)
    pat = staff(world, "pat@example.org")
    source = tmp_path / "pat"
    for path, data in DEFAULT_FILES.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        (source / path).write_bytes(data + b"v2")
    publish(
        db.session,
        world.rt.storage,
        model,
        source,
        actor=principal_for(pat.user, "t"),
        journal_path=tmp_path / "journal.json",
    )
    page = post(signed_in(app, pat), CONSOLE + "/signoffs")
    assert "published the current revision" in page


def test_auditors_read_only_admins_halt_and_others_see_nothing(app: Flask, world: World) -> None:
    world.model("acme/llm", stage=None)
    audrey = signed_in(app, staff(world, "audrey@example.org", "auditor"))
    page = audrey.get(CONSOLE).get_data(as_text=True)
    assert "Gate of partner-preview" in page
    assert '<form method="post" action="/staff/models' not in page
    assert "Only admin or safety staff may promote models." in post(audrey, CONSOLE + "/promote")

    adam = signed_in(app, staff(world, "adam@example.org", "admin"))
    page = post(adam, CONSOLE + "/halt", reason="")
    assert "This field is required." in page
    assert 'id="halted"' not in page
    page = post(adam, CONSOLE + "/halt", reason="weights leaked", confirm="y")
    assert 'id="halted"' in page
    assert "Reason: weights leaked." in page
    assert "already halted" in post(adam, CONSOLE + "/halt", reason="again", confirm="y")
    page = post(adam, CONSOLE + "/resume")
    assert "Distribution resumed." in page
    assert 'id="halted"' not in page

    # Without a proved second factor, the service refuses the transition.
    sam = signed_in(app, staff(world, "sam@example.org", "admin", second_factor=False))
    assert "you need a second factor" in post(sam, CONSOLE + "/halt", reason="test", confirm="y")

    rita = signed_in(app, world.person("rita@example.org", password=PASSWORD))
    assert rita.get(CONSOLE).status_code == 404  # internal: hidden as if absent
    assert rita.get("/staff/").status_code == 403
    assert rita.get("/staff/audit").status_code == 403
    anonymous = app.test_client().get(CONSOLE)
    assert anonymous.status_code == 302
    assert "/login" in anonymous.location


def _downloads(world: World, now: datetime) -> None:
    rows = []
    for i in range(12):
        rows.append(
            {
                "occurred_at": now - timedelta(days=i % 3, minutes=i),
                "tag": "download:link:issued" if i % 4 else "download:link:refused",
                "actor_id": 1 + i % 2,
                "actor": ("rita@example.org", "paul@example.org")[i % 2],
                "address": "127.0.0.1",
                "model": ("acme/llm", "acme/small")[i % 3 == 0],
                "path": "model.safetensors",
                "tier": ("researcher", "vetted_partner")[i % 2],
                "data": "{}",
            }
        )
    table = sa.table("audit_events", *(sa.column(k) for k in rows[0]))
    db.session.execute(sa.insert(table), rows)
    db.session.commit()


def test_audit_filters_charts_and_exports(app: Flask, world: World) -> None:
    world.model("acme/llm")
    audrey = signed_in(app, staff(world, "audrey@example.org", "auditor"))
    now = datetime.now(UTC)
    _downloads(world, now)
    seal_pending(db.session, signing_key(app.config))

    by_tier = downloads_per_day(db.session, "tier", now=now)
    assert sum(c.count for c in by_tier) == 9  # issued only, refused excluded
    rita = downloads_per_day(
        db.session, "model", now=now, where=EventFilter(user="rita@example.org")
    )
    assert {c.key for c in rita} <= {"acme/llm", "acme/small"}
    assert sum(c.count for c in rita) == 3

    page = audrey.get("/staff/audit?action=download:link:issued&user=paul@example.org")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count("<td>download:link:issued</td>") == 6
    assert '<svg id="chart-tier"' in html
    assert '<svg id="chart-model"' in html
    assert "<title>" in html
    assert 'class="bar"' in html
    assert 'id="chart-tier-table"' in html

    export = audrey.get(
        "/staff/audit/export?format=csv&action=download:link:issued&user=paul@example.org"
    )
    assert export.status_code == 200
    assert export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert len(rows) == 6
    assert {r["actor"] for r in rows} == {"paul@example.org"}
    jsonl = audrey.get("/staff/audit/export?format=jsonl&model=acme/small")
    lines = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert len(lines) == 4
    assert all(e["model"] == "acme/small" for e in lines)

    assert audrey.get("/staff/audit/export?format=xml").status_code == 400
    assert audrey.get("/staff/audit?since=yesterday").status_code == 400
    user = audrey.get("/staff/audit/users/rita@example.org").get_data(as_text=True)
    assert "Downloads by rita@example.org" in user
    assert user.count("<td>download:link:issued</td>") == 3
    model = audrey.get("/staff/audit/models/acme/small").get_data(as_text=True)
    assert "Downloads of acme/small" in model
    assert '<svg id="chart-tier"' in model


def test_every_staff_page_runs_at_most_ten_statements(app: Flask, world: World) -> None:
    # Several models: the index reads every model's gate in a fixed number of queries.
    model = world.model("acme/llm", stage=None)
    world.publish(model, {"config.json": b"{}\n"})  # two revisions to list
    for extra in ("acme/second", "acme/third", "acme/fourth"):
        world.model(extra, stage="research-access")
    # Grants on the model and a tier-wide one, so the console's grant list has rows.
    for i in range(3):
        world.person(f"r{i}@example.org", tiers=("researcher",), model=model)
    world.person("wide@example.org", tiers=("researcher",))
    grant_id = db.session.scalar(sa.select(Grant.id).order_by(Grant.id))
    admin = signed_in(app, staff(world, "adam@example.org", "admin", "auditor"))
    _downloads(world, datetime.now(UTC))
    seal_pending(db.session, signing_key(app.config))
    figures = {}
    for url in (
        "/staff/",
        CONSOLE,
        "/staff/models/new",
        "/staff/models/acme/llm",
        "/staff/models/acme/llm/card",
        "/staff/models/acme/llm/grants",
        f"/staff/models/acme/llm/grants/{grant_id}/revoke",
        "/staff/audit",
        "/staff/audit?model=acme/llm&action=download&since=2020-01-01",
        "/staff/audit/users/rita@example.org",
        "/staff/audit/models/acme/llm",
        "/staff/audit/export?format=csv",
    ):
        with count_queries(app) as statements:
            answer = admin.get(url)
            answer.get_data()
        assert answer.status_code == 200, url
        figures[url] = len(statements)
    print("statements per page:", figures)
    assert max(figures.values()) <= MAX_QUERIES, figures
