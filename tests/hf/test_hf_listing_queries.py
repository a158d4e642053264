"""What `snapshot_download` asks before its first file (model info, then the recursive
tree listing) decides the caller's standing once per request: the statements each
runs, counted, stay in a budget (the tree listing ran 17 before it stopped deciding
twice, for the standing check and again for the caller's marked copies)."""

from __future__ import annotations

from flask.testing import FlaskClient

from distserver.catalog.services import main_revision
from distserver.extensions import db
from tests.support.world import World
from tests.web.support import counting

# A researcher's model info and recursive tree listing, one decision each.
INFO_BUDGET = 12
TREE_BUDGET = 11


def test_snapshot_listings_decide_the_callers_standing_once(
    client: FlaskClient, world: World
) -> None:
    model = world.model("acme/llm", stage="general-availability")
    commit = main_revision(db.session, model).commit
    person = world.person("rita@example.org", tiers=("researcher",))
    headers = {"Authorization": f"Bearer {person.token}"}
    counts = {}
    for name, url in (
        ("info", "/api/models/acme/llm/revision/main"),
        ("tree", f"/api/models/acme/llm/tree/{commit}?recursive=True&expand=False"),
    ):
        assert client.get(url, headers=headers).status_code == 200  # warm
        db.session.remove()
        with counting() as seen:
            answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.json
        counts[name] = len(seen)
        db.session.remove()
    print(counts)
    assert counts["info"] <= INFO_BUDGET, counts
    assert counts["tree"] <= TREE_BUDGET, counts
