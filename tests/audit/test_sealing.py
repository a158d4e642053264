"""Sealing against the real databases: order, checkpoints, concurrency, append-only."""

from __future__ import annotations

import subprocess
import time

import pytest
import sqlalchemy as sa
from flask import Flask

from distserver.audit.checkpoints import verify_checkpoint
from distserver.audit.database_verify import verify_database
from distserver.audit.queries import checkpoints
from distserver.audit.sealing import seal_pending
from distserver.extensions import db
from tests.audit.helpers import add_events, cli_env, distserver_cmd, key, seal_rows
from tests.support.world import World


def test_seal_chains_every_event_in_id_order_with_a_checkpoint_per_batch(
    app: Flask, world: World
) -> None:
    world.model("acme/llm")
    add_events(25)
    ids = [e.id for e in world.events()]
    report = seal_pending(db.session, key(app), batch=10)
    assert report.sealed == len(ids)
    assert report.checkpoints == -(-len(ids) // 10)
    rows = seal_rows()
    assert [r.seq for r in rows] == list(range(len(ids)))
    assert [r.event_id for r in rows] == ids
    cps = checkpoints(db.session)
    assert [cp.seq for cp in cps][-1] == len(ids) - 1
    assert all(verify_checkpoint(key(app).public_key(), cp) for cp in cps)
    assert verify_database(db.session, key(app).public_key()).ok

    # Nothing pending: no new checkpoint. New events continue the same chain.
    assert seal_pending(db.session, key(app)).sealed == 0
    assert len(checkpoints(db.session)) == len(cps)
    add_events(3)
    assert seal_pending(db.session, key(app)).sealed == 3
    result = verify_database(db.session, key(app).public_key())
    assert result.ok, result.message
    assert result.events_checked == len(ids) + 3, result.message


def test_the_cli_seals_and_verifies(app: Flask, world: World) -> None:
    world.model("acme/llm")
    env = cli_env(app)
    sealed = subprocess.run(
        distserver_cmd("audit", "seal"), env=env, capture_output=True, text=True, timeout=120
    )
    assert sealed.returncode == 0, sealed.stderr
    assert "sealed" in sealed.stdout
    checked = subprocess.run(
        distserver_cmd("audit", "verify"), env=env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok:")


def test_two_sealers_at_once_build_one_chain(app: Flask) -> None:
    n = 6000
    add_events(n)
    env = cli_env(app)
    # Both start on a fully unsealed log; small batches make them interleave.
    procs = [
        subprocess.Popen(
            distserver_cmd("audit", "seal", "--batch", "150"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    sealed_by_each = [int(out.split()[1]) for out, _ in outs]
    assert sum(sealed_by_each) == n, outs
    rows = seal_rows()
    assert [r.seq for r in rows] == list(range(n))
    assert sorted(r.event_id for r in rows) == [r.event_id for r in rows]  # id order
    assert len({r.event_id for r in rows}) == n
    result = verify_database(db.session, key(app).public_key())
    assert result.ok, result.message
    assert result.events_checked == n, result.message
    print(f"two sealers: {sealed_by_each} events each, one chain of {n}")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'mallory' WHERE id = (SELECT min(id) FROM audit_events)",
        "DELETE FROM audit_events WHERE id = (SELECT min(id) FROM audit_events)",
        "TRUNCATE audit_events CASCADE",
        "UPDATE audit_seals SET hash = repeat('0', 64)",
        "DELETE FROM audit_seals",
        "UPDATE audit_checkpoints SET head_hash = repeat('0', 64)",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_seals CASCADE",
    ],
)
def test_postgres_refuses_to_change_the_log(make_app, statement: str) -> None:  # type: ignore[no-untyped-def]
    app = make_app("postgres")
    with app.app_context():
        add_events(5)
        seal_pending(db.session, key(app))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
        count = db.session.execute(sa.text("SELECT count(*) FROM audit_events")).scalar()
        assert count == 5
        assert verify_database(db.session, key(app).public_key()).ok


def test_the_background_thread_seals_new_events(app: Flask) -> None:
    from distserver.audit.sealing import start_sealing_thread

    add_events(4)
    sealer = start_sealing_thread(app, 0.05)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seal_rows()) < 4:
            db.session.rollback()
            time.sleep(0.05)
        add_events(3)
        while time.monotonic() < deadline and len(seal_rows()) < 7:
            db.session.rollback()
            time.sleep(0.05)
    finally:
        sealer.stop()
    db.session.rollback()
    assert [r.seq for r in seal_rows()] == list(range(7))
    assert verify_database(db.session, key(app).public_key()).ok


def test_production_without_a_key_file_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from distserver.audit.keys import signing_key
    from distserver.errors import ConfigError

    settings = {"ENV": "production", "INSTANCE_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="AUDIT_SIGNING_KEY_FILE"):
        signing_key(settings)
    dev = signing_key({"ENV": "development", "INSTANCE_DIR": str(tmp_path)})
    assert (tmp_path / "audit-signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "audit-public-key.pem").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
    settings["AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "audit-signing-key.pem")
    assert signing_key(settings).public_key() == dev.public_key()
    settings["AUDIT_SIGNING_KEY_FILE"] = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="file not found"):
        signing_key(settings)


def test_an_event_that_commits_late_is_sealed_after_the_ones_already_sealed(app: Flask) -> None:
    # Ids come from a sequence before commit, so a lower id can become visible after higher
    # ones were sealed: it must still be sealed (next seq), never skipped.
    insert = sa.text(
        "INSERT INTO audit_events (id, occurred_at, tag, actor, data) "
        "VALUES (:id, CURRENT_TIMESTAMP, 'account:login:succeeded', 'late@example.org', '{}')"
    )
    db.session.execute(insert, [{"id": 100}, {"id": 101}])
    db.session.commit()
    seal_pending(db.session, key(app))
    db.session.execute(insert, {"id": 50})
    db.session.commit()
    assert seal_pending(db.session, key(app)).sealed == 1
    assert [(r.seq, r.event_id) for r in seal_rows()] == [(0, 100), (1, 101), (2, 50)]
    assert verify_database(db.session, key(app).public_key()).ok
