"""The periodic jobs do what their cron commands do, run by the job engine: reminders
and the review digest go out as mail jobs, sealing seals, the tick runs; none fails."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from distserver.access.models import Grant
from distserver.audit.models import AuditSeal
from distserver.db import utcnow
from distserver.extensions import db
from distserver.jobs import drain, failed_count, job_runtime
from distserver.mail import read_outbox
from tests.access.support import apply, manager
from tests.support.world import World


def test_periodic_jobs_remind_digest_seal_and_tick(app: Flask, world: World) -> None:
    client = app.test_client()
    world.model("acme/llm", stage="research-access")
    reviewer = manager(world, "rev@example.org", roles=("reviewer",))
    first = apply(client, "acme/llm", manager(world, "a@example.org")).json["id"]
    approved = client.post(f"/api/v1/applications/{first}/approve", json={}, headers=reviewer)
    assert approved.status_code == 200, approved.json
    apply(client, "acme/llm", manager(world, "b@example.org"))  # stays pending
    grant = db.session.scalar(db.select(Grant))
    grant.expires_at = utcnow() + timedelta(days=3)
    db.session.commit()
    before = len(read_outbox())

    runtime = job_runtime()
    for name in ("grants.remind", "applications.digest", "audit.seal", "releases.tick"):
        runtime.send(name)
    drain()
    db.session.rollback()

    new = read_outbox()[before:]
    assert [m["to"] for m in new if "expires on" in m["subject"]] == ["a@example.org"]
    assert [m["to"] for m in new if "wait for review" in m["subject"]] == ["rev@example.org"]
    assert db.session.scalar(db.select(db.func.count()).select_from(AuditSeal)) > 0
    assert db.session.get(Grant, grant.id).reminded_at is not None
    assert failed_count() == 0
