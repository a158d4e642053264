"""Helpers for the access tests: tokens with the manage scope and short requests."""

from __future__ import annotations

from typing import Any

from distserver.accounts.services import create_token
from distserver.app_runtime import current_runtime
from distserver.extensions import db
from tests.support.world import Person, World


def manager(world: World, email: str, **kw: Any) -> dict[str, str]:
    """A new person and the headers of a token with the read and manage scopes."""
    person = world.person(email, **kw)
    return writer(person)


def writer(person: Person) -> dict[str, str]:
    raw = create_token(db.session, person.user, name="manage", scopes=("read", "manage")).raw
    return {"Authorization": f"Bearer {raw}"}


def sha(tier: str) -> str:
    agreement = current_runtime().tiers[tier].agreement
    assert agreement is not None
    return agreement.sha256


def link(client, ref: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/models/{ref}/links", json={"path": "config.json"}, headers=headers)


ANSWERS = {"affiliation": "Example University", "intended_use": "Interpretability research."}


def apply(client, ref: str, headers: dict[str, str], **body: Any):  # type: ignore[no-untyped-def]
    payload = {"tier": "researcher", "answers": ANSWERS, "agreement_sha256": sha("researcher")}
    payload.update(body)
    return client.post(f"/api/v1/models/{ref}/applications", json=payload, headers=headers)
