"""Shared helpers for the release tests: staff with `manage` tokens, publishing as a
named person, and the per-tier decision table."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from distserver.accounts.services import create_token, principal_for
from distserver.catalog.models import Model
from distserver.catalog.publish import publish
from distserver.extensions import db
from distserver.releases.plans import Plan
from tests.support.world import DEFAULT_FILES, Person, World

# The people of the decision table: who they are, and the tier each stands in.
TABLE_PEOPLE = ("anonymous", "public user", "researcher", "vetted partner")
TIER_OF = {
    "anonymous": "public",
    "public user": "public",
    "researcher": "researcher",
    "vetted partner": "vetted_partner",
}


def staff(world: World, email: str, *roles: str) -> Person:
    """A staff member whose token carries the `manage` scope."""
    person = world.person(email, roles=roles)
    raw = create_token(db.session, person.user, name="manage", scopes=("read", "manage")).raw
    return Person(person.user, raw)


def table_people(world: World) -> dict[str, Person | None]:
    return {
        "anonymous": None,
        "public user": world.person("pat@example.org"),
        "researcher": world.person("rita@example.org", tiers=("researcher",)),
        "vetted partner": world.person("vic@example.org", tiers=("vetted_partner",)),
    }


def publish_as(world: World, model: Model, person: Person, files: dict[str, bytes]) -> str:
    world.count += 1
    directory = world.sources / f"src{world.count}"
    for path, data in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
    journal = Path(world.app.instance_path) / "journal.json"
    actor = principal_for(person.user, "test")
    return publish(
        db.session, world.rt.storage, model, directory, actor=actor, journal_path=journal
    ).commit


def decisions(client: FlaskClient, ref: str, people: dict[str, Person | None]) -> dict[str, str]:
    """Each person's answer for a link to the model's main weights: 'allowed (tier)'
    or the refusal's reason code."""
    out: dict[str, str] = {}
    for who, person in people.items():
        r = client.post(
            f"/api/v1/models/{ref}/links",
            json={"path": "model.safetensors"},
            headers=person.auth if person else {},
        )
        out[who] = (
            f"allowed ({r.json['tier']})" if r.status_code == 201 else r.json["error"]["code"]
        )
    return out


def expected(plan: Plan, stage: str) -> dict[str, bool]:
    admitted = plan.stage(stage).tiers
    return {who: TIER_OF[who] in admitted for who in TABLE_PEOPLE}


def print_table(rows: list[tuple[str, dict[str, str]]]) -> None:
    width = max(len(w) for w in TABLE_PEOPLE) + 2
    print("\nstage".ljust(24) + "".join(w.ljust(width + 6) for w in TABLE_PEOPLE))
    for stage, row in rows:
        print(stage.ljust(23) + "".join(row[w].ljust(width + 6) for w in TABLE_PEOPLE))


__all__ = ["DEFAULT_FILES"]
