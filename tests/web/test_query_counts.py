"""Done-when 4 (issue 8): no page takes more than 10 database queries. Each page of
the web experience is fetched by an anonymous visitor and by a signed-in researcher
(and the staff pages of this part by a reviewer and an admin; the audit pages and the
release console with its download statistics by the admin), counting every SQL
statement the engine runs with a before_cursor_execute listener; the counts print."""

from __future__ import annotations

from flask.testing import FlaskClient

from distserver.access import applications, organizations, webhooks
from distserver.accounts.services import principal_for
from distserver.extensions import db
from distserver.identity import SYSTEM
from tests.accounts.helpers import sign_in
from tests.support.world import World
from tests.web.support import PASSWORD, counting, seed

BUDGET = 10
ANONYMOUS_PAGES = (
    "/",
    "/models",
    "/models?q=llm&stage=general-availability&downloadable=1",
    "/models/acme/open-llm",
    "/models/acme/research-llm",
    "/models/acme/partner-llm",
)
RESEARCHER_PAGES = (
    *ANONYMOUS_PAGES,
    "/models/acme/extra-llm",
    "/models/acme/research-llm/apply?tier=researcher",
    "/models/acme/open-llm/agreement?tier=researcher",
    "/access",
)
STAFF_PAGES = ("/", "/review", "/review?status=all", "/models", "/models/acme/research-llm")
# Issue 16: the audit pages (paged), the release console with its statistics, and
# the console pages for organisations, webhooks and users: admins only.
ADMIN_PAGES = (
    "/staff/audit",
    "/staff/audit?action=download&model=acme/open-llm",
    "/staff/audit/models/acme/open-llm",
    "/staff/audit/users/rita@example.org",
    "/staff/models/acme/open-llm/release",
    "/staff/models/acme/research-llm/release",
    "/admin/users",
    "/admin/users?q=example",
    "/staff/orgs",
    "/staff/orgs/lab",
    "/staff/webhooks",
    "/staff/webhooks/1",
)


def _measure(client: FlaskClient, pages: tuple[str, ...], who: str) -> dict[str, int]:
    counts = {}
    for page in pages:
        client.get(page)  # warm: one-off work such as a scheduled stage opening
        # The test holds an app context, which requests would share (and with it the
        # session's identity map): start each measured request from an empty session.
        db.session.remove()
        with counting() as seen:
            response = client.get(page)
        assert response.status_code == 200, f"{who} {page}: {response.status_code}"
        counts[page] = len(seen)
        print(f"queries {who:>10} {len(seen):>2}  {page}")
        if len(seen) > BUDGET:
            print("\n".join("    " + " ".join(q.split())[:150] for q in seen))
    return counts


def _crowd(world: World, models: dict) -> None:
    """More rows than one: a second research model, applications by several people,
    a grant and a download, so that a page with an N+1 would show it."""
    rt = world.rt
    world.model("acme/extra-llm", stage="research-access")
    for i in range(3):
        person = world.person(f"applicant{i}@example.org")
        for key in ("research",):
            applications.submit(
                db.session,
                rt.tiers,
                person.user,
                models[key],
                "researcher",
                {"affiliation": f"Lab {i}", "intended_use": "study"},
                actor=principal_for(person.user, "test"),
                agreement_sha256=rt.tiers["researcher"].agreement.sha256,
            )


def test_every_page_within_budget(client: FlaskClient, world: World) -> None:
    models = seed(world)
    _crowd(world, models)
    researcher = world.person(
        "rita@example.org", tiers=("researcher",), model=models["research"], password=PASSWORD
    )
    assert researcher.user.id
    staff = [
        (email, world.person(email, roles=(who,), password=PASSWORD).totp_secret, who)
        for email, who in (("rev@example.org", "reviewer"), ("boss@example.org", "admin"))
    ]

    counts = {
        f"anonymous {p}": n for p, n in _measure(client, ANONYMOUS_PAGES, "anonymous").items()
    }
    sign_in(client, "rita@example.org", PASSWORD)
    client.post(  # a download, so the dashboard lists one
        "/models/acme/open-llm/download",
        data={"csrf_token": _token(client), "path": "config.json"},
    )
    counts |= {
        f"researcher {p}": n for p, n in _measure(client, RESEARCHER_PAGES, "researcher").items()
    }
    _console_rows(world)
    for email, secret, who in staff:
        other = client.application.test_client()
        sign_in(other, email, PASSWORD, totp_secret=secret)
        pages = STAFF_PAGES + (ADMIN_PAGES if who == "admin" else ())
        counts |= {f"{who} {p}": n for p, n in _measure(other, pages, who).items()}
    over = {page: n for page, n in counts.items() if n > BUDGET}
    assert not over, f"pages over the {BUDGET}-query budget: {over}"


def _console_rows(world: World) -> None:
    """An organisation with members and two signatures, a webhook with deliveries."""
    tier = world.rt.tiers["vetted_partner"]
    org = organizations.create_org(db.session, "lab", "Lab", tier, SYSTEM)
    for i in range(3):
        person = world.person(f"member{i}@example.org")
        organizations.add_member(db.session, org, person.user, SYSTEM, ("member", "manager")[i % 2])
    for who in ("Dr. One", "Dr. Two"):
        organizations.sign_agreement(db.session, org, tier, signed_by=who, actor=SYSTEM)
    webhooks.create_webhook(db.session, "https://hooks.example.org/x", ["*"], SYSTEM)
    for i in range(3):
        webhooks.emit(db.session, "release:stage:promoted", {"n": i})
    db.session.commit()


def _token(client: FlaskClient) -> str:
    from tests.accounts.helpers import csrf

    return csrf(client, "/models/acme/open-llm")
