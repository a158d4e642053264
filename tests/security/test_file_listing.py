"""Who sees a model's file list (paths, sizes, sha256): only callers its stage admits
and nothing else refuses (no grant, an agreement not accepted, a halt all hide it).
The model page, the native API's model detail, the Hugging Face tree and the
Hugging Face model info (siblings, and checksums with ?blobs) all agree, for every
principal at every stage."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Flask

from distserver.extensions import db
from distserver.identity import SYSTEM
from distserver.releases.services import halt
from tests.support.world import DEFAULT_FILES, World

SHA = hashlib.sha256(DEFAULT_FILES["config.json"]).hexdigest()
MODELS = {
    "acme/partners": "partner-preview",
    "acme/research": "research-access",
    "acme/ga": "general-availability",
    "acme/halted": "research-access",
}
# principal -> models whose files it may list
EXPECTED = {
    "anonymous": {"acme/ga"},
    "public user": {"acme/ga"},
    "researcher": {"acme/research", "acme/ga"},
    "researcher, agreement not accepted": {"acme/ga"},
    "partner": {"acme/partners", "acme/research", "acme/ga"},
    "safety": {"acme/partners", "acme/research", "acme/ga"},
}


def _doors(client: Any, ref: str, headers: dict[str, str]) -> dict[str, bool]:
    page = client.get(f"/models/{ref}", headers=headers)
    api = client.get(f"/api/v1/models/{ref}", headers=headers)
    tree = client.get(f"/api/models/{ref}/tree/main", headers=headers)
    info = client.get(f"/api/models/{ref}?blobs=true", headers=headers)
    assert page.status_code == api.status_code == info.status_code == 200, ref
    return {
        "model page": SHA in page.get_data(as_text=True),
        "API detail": bool(api.json["files"]),
        "HF tree": tree.status_code == 200,
        "HF model info": bool(info.json["siblings"]),
        "HF checksums": SHA in info.get_data(as_text=True),
    }


def test_file_lists_are_shown_only_where_the_stage_admits_and_every_door_agrees(
    app: Flask, world: World
) -> None:
    for ref, stage in MODELS.items():
        model = world.model(ref, stage=stage)
        if ref == "acme/halted":
            halt(db.session, model, "test", SYSTEM)
    people = {
        "public user": world.person("pub@example.org"),
        "researcher": world.person("res@example.org", tiers=("researcher",)),
        "researcher, agreement not accepted": world.person(
            "new@example.org", tiers=("researcher",), accept=False
        ),
        "partner": world.person("par@example.org", tiers=("vetted_partner",)),
        "safety": world.person("saf@example.org", roles=("safety",)),
    }
    client = app.test_client()
    mismatches, tried = [], 0
    for who, allowed in EXPECTED.items():
        headers = people[who].auth if who in people else {}
        for ref in MODELS:
            want = ref in allowed
            for door, shown in _doors(client, ref, headers).items():
                tried += 1
                if shown != want:
                    mismatches.append((who, ref, door, want, shown))
    print(f"\nfile listings: {tried} cases tried, {len(mismatches)} mismatches")
    assert mismatches == []
