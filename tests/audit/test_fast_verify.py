"""`audit verify` on PostgreSQL from the stored canonical bytes (distserver.audit.fast_verify):
the bytes are exactly what Python's encoder gives, the SQL rebuild from the columns equals
it for any event (a property test), an edited column is still caught and named, events
written by raw SQL seal and verify like the others, and old seals without bytes still
verify."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distserver.audit import fast_verify
from distserver.audit.chain import canonical_bytes, event_fields
from distserver.audit.database_verify import verify_database
from distserver.audit.models import AuditEvent
from distserver.audit.queries import checkpoints
from distserver.audit.sealing import seal_pending
from distserver.audit.service import record
from distserver.audit.tags import EventTag
from distserver.extensions import db
from tests.audit.helpers import add_events, cli_env, distserver_cmd, key

# Column -> its varchar length (None: text), for values PostgreSQL accepts.
TEXT_COLUMNS = {
    "tag": 64, "actor": 255, "address": 64, "user_agent": 255, "model": 200, "revision": 40,
    "path": 1024, "sha256": 64, "tier": 64, "reason": 64, "link_id": 64, "data": None,
}  # fmt: skip
NULLABLE = set(TEXT_COLUMNS) - {"tag", "actor", "data"}
# Any character PostgreSQL text can hold: no U+0000, no lone surrogates. Controls, quotes,
# backslashes, U+2028, combining marks and astral characters included.
CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
SPECIAL = '"\\\n\r\t\x01\x1f\x7f\u2028\u0301\U0001f600é中/'


@pytest.fixture
def pg_app(make_app) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    app = make_app("postgres")
    with app.app_context():
        yield app


@contextmanager
def behind_the_back() -> Iterator[sa.Connection]:
    """A connection that skips the append-only triggers, as an attacker with superuser
    access would (session_replication_role = replica)."""
    with db.engine.connect() as connection:
        connection.execute(sa.text("SET session_replication_role = replica"))
        yield connection
        connection.commit()


def _insert(rows: list[dict[str, Any]]) -> list[int]:
    table = sa.table("audit_events", *(sa.column(k) for k in rows[0]), sa.column("id"))
    ids = db.session.execute(sa.insert(table).returning(table.c.id), rows).scalars().all()
    db.session.commit()
    return list(ids)


def _sql_bytes(event_id: int) -> bytes:
    query = sa.text(
        f"SELECT {fast_verify.REBUILT_BYTES} FROM {fast_verify.EVENTS_REBUILT}"  # noqa: S608
        " WHERE e.id = :id"
    )
    return bytes(db.session.execute(query, {"id": event_id}).scalar_one())


def _python_bytes(event_id: int) -> bytes:
    db.session.expire_all()
    return canonical_bytes(event_fields(db.session.get(AuditEvent, event_id)))


def _text(limit: int | None) -> st.SearchStrategy[str]:
    return st.text(CHARS | st.sampled_from(SPECIAL), max_size=min(limit or 300, 80))


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {
        "occurred_at": draw(
            st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC))
        ),
        "actor_id": draw(st.none() | st.integers(-(2**31), 2**31 - 1)),
    }
    for name, limit in TEXT_COLUMNS.items():
        value = _text(limit)
        row[name] = draw(st.none() | value) if name in NULLABLE else draw(value)
    return row


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(events(), min_size=1, max_size=4))
def test_sql_rebuild_of_canonical_bytes_equals_the_python_encoding(pg_app, rows) -> None:  # type: ignore[no-untyped-def]
    """The property the set-based comparison rests on: for any event PostgreSQL can store,
    the SQL rebuild from its columns is byte for byte `canonical_bytes`, and sealing stores
    exactly those bytes."""
    ids = _insert(rows)
    for event_id in ids:
        assert _sql_bytes(event_id) == _python_bytes(event_id)
    seal_pending(db.session, key(pg_app))
    stored = dict(
        db.session.execute(
            sa.text("SELECT event_id, canonical FROM audit_seals WHERE event_id = ANY(:ids)"),
            {"ids": ids},
        ).all()
    )
    assert {i: bytes(b) for i, b in stored.items()} == {i: _python_bytes(i) for i in ids}
    with db.engine.connect() as connection:
        assert fast_verify.mismatched_columns(connection, last=10**9) == []


def test_the_fast_check_verifies_what_the_deep_pass_verifies(pg_app: Flask) -> None:
    add_events(45)
    seal_pending(db.session, key(pg_app), batch=8)
    public = key(pg_app).public_key()
    fast = fast_verify.verify_stored(db.session, public, checkpoints(db.session))
    db.session.rollback()
    deep = verify_database(db.session, public, deep=True)
    assert fast is not None, (fast, deep.message)
    assert fast.ok, (fast, deep.message)
    assert deep.ok, (fast, deep.message)
    assert fast == deep
    assert fast.message.startswith("ok: 45 events verified up to seq 44")
    assert verify_database(db.session, public) == deep


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor", "someone-else@example.org"),
        ("path", "f/other.bin"),
        ("occurred_at", "2026-01-01T00:00:00.000001Z"),
        ("actor_id", "7"),
        ("model", None),
        ("data", '{"i": 1}'),
    ],
)
def test_an_edited_column_is_caught_by_the_set_based_comparison_and_named(
    pg_app: Flask, column: str, value: str | None
) -> None:
    add_events(30)
    seal_pending(db.session, key(pg_app), batch=7)
    seals = db.session.execute(sa.text("SELECT seq, event_id FROM audit_seals ORDER BY seq")).all()
    seq, event_id = seals[random.Random(column).randrange(5, 25)]
    db.session.rollback()
    with behind_the_back() as attacker:
        attacker.execute(
            sa.text(f"UPDATE audit_events SET {column} = :v WHERE id = :id"),  # noqa: S608
            {"v": value, "id": event_id},
        )
    # The stored bytes and every hash are untouched: the chain alone would pass.
    with db.engine.connect() as connection:
        assert fast_verify.mismatched_columns(connection, last=10**9) == [(seq, event_id)]
    public = key(pg_app).public_key()
    assert fast_verify.verify_stored(db.session, public, checkpoints(db.session)) is None
    db.session.rollback()
    result = verify_database(db.session, public)
    assert not result.ok
    assert (result.first_bad_seq, result.first_bad_event_id) == (seq, event_id), result.message
    assert result.message.startswith(f"event {event_id} (seq {seq}) was edited")


def test_a_changed_stored_hash_or_a_missing_seal_falls_back_and_is_named(pg_app: Flask) -> None:
    add_events(25)
    seal_pending(db.session, key(pg_app), batch=10)
    public = key(pg_app).public_key()
    with behind_the_back() as attacker:
        attacker.execute(
            sa.text("UPDATE audit_seals SET hash = replace(hash, 'a', 'b') WHERE seq = 12")
        )
    result = verify_database(db.session, public)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 12, "edited")
    with behind_the_back() as attacker:
        attacker.execute(sa.text("DELETE FROM audit_seals WHERE seq >= 12"))
    result = verify_database(db.session, public)
    assert (result.ok, result.reason, result.first_bad_seq) == (False, "truncated", 12)


def test_events_written_by_raw_sql_seal_and_verify_like_the_others(pg_app: Flask) -> None:
    """Issue 12, test 6 from the verify side: a fast path that writes its event with one raw
    INSERT (no ORM, the database's clock) gets the same seal and the same verdict."""
    record(db.session, EventTag.LOGIN_SUCCEEDED, None, data={"door": "web"})
    db.session.commit()
    raw = sa.text(
        "INSERT INTO audit_events (occurred_at, tag, actor_id, actor, address, user_agent,"
        " model, revision, path, sha256, tier, reason, link_id, data)"
        " VALUES (clock_timestamp(), :tag, :actor_id, :actor, :address, :ua, :model, :rev,"
        " :path, :sha, :tier, :reason, :link, :data) RETURNING id"
    )
    raw_ids = []
    for i in range(6):
        issued = i % 2 == 0
        params = {
            "tag": str(EventTag.LINK_ISSUED if issued else EventTag.LINK_REFUSED),
            "actor_id": 10 + i,
            "actor": f"r{i}@example.org",
            "address": "127.0.0.1",
            "ua": 'huggingface_hub/0.26; "quoted" \\ é 中',
            "model": "acme/llm",
            "rev": "c" * 40,
            "path": f"weights/part {i}+.safetensors",
            "sha": "d" * 64,
            "tier": "researcher",
            "reason": None if issued else "no_grant",
            "link": f"{i:032x}" if issued else None,
            "data": json.dumps({"agreement_version": 2, "door": "api"}, sort_keys=True),
        }
        raw_ids.append(db.session.execute(raw, params).scalar_one())
        db.session.commit()
        record(db.session, EventTag.LINK_USED, None, link_id=f"{i:032x}", data={"n": i})
        db.session.commit()

    report = seal_pending(db.session, key(pg_app), batch=4)
    assert report.sealed == 13
    stored = dict(db.session.execute(sa.text("SELECT event_id, canonical FROM audit_seals")).all())
    for event_id in raw_ids:
        assert bytes(stored[event_id]) == _python_bytes(event_id) == _sql_bytes(event_id)
    public = key(pg_app).public_key()
    fast = fast_verify.verify_stored(db.session, public, checkpoints(db.session))
    db.session.rollback()
    deep = verify_database(db.session, public, deep=True)
    assert fast is not None
    assert fast == deep
    assert deep.ok
    assert deep.events_checked == 13

    env = cli_env(pg_app)
    for args in (("audit", "verify"), ("audit", "verify", "--deep")):
        run = subprocess.run(
            distserver_cmd(*args), env=env, capture_output=True, text=True, timeout=120
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith("ok: 13 events verified"), run.stdout


def test_seals_from_before_the_bytes_were_kept_are_reencoded(pg_app: Flask) -> None:
    add_events(30)
    seal_pending(db.session, key(pg_app), batch=9)
    with behind_the_back() as old:
        old.execute(sa.text("UPDATE audit_seals SET canonical = NULL WHERE seq % 3 = 0"))
    public = key(pg_app).public_key()
    fast = fast_verify.verify_stored(db.session, public, checkpoints(db.session))
    db.session.rollback()
    assert fast is not None, fast
    assert fast.ok, fast
    assert fast.events_checked == 30, fast
    # Such a seal's event is re-encoded from its columns, so an edit is still seen.
    with behind_the_back() as attacker:
        attacker.execute(
            sa.text(
                "UPDATE audit_events SET actor = 'x' WHERE id ="
                " (SELECT event_id FROM audit_seals WHERE seq = 6)"
            )
        )
    assert fast_verify.verify_stored(db.session, public, checkpoints(db.session)) is None
    db.session.rollback()
    assert verify_database(db.session, public).first_bad_seq == 6


def test_a_difference_found_midway_through_the_copy_still_ends_in_the_named_event(
    pg_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chain check stops reading in the middle of its COPY; the full pass that follows,
    on the same session, still runs and names the event."""
    monkeypatch.setattr(fast_verify, "CHUNK", 10)
    add_events(60)
    seal_pending(db.session, key(pg_app), batch=20)
    with behind_the_back() as attacker:
        attacker.execute(sa.text("UPDATE audit_seals SET hash = repeat('0', 64) WHERE seq = 4"))
    public = key(pg_app).public_key()
    assert fast_verify.verify_stored(db.session, public, checkpoints(db.session)) is None
    db.session.rollback()
    result = verify_database(db.session, public)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 4, "edited"), result.message
    # The session is usable afterwards.
    assert db.session.execute(sa.text("SELECT count(*) FROM audit_seals")).scalar() == 60


# Each way of tampering with the sealed log behind the application's back, on PostgreSQL.
# (SQL built from constants; :a / :b are the event ids at seq A and B, A < B.)
A, B = 9, 17
TAMPER = {
    # a byte of an event's content changed (its stored bytes and hashes left alone)
    "changed-byte": ["UPDATE audit_events SET data = replace(data, ':', ';') WHERE id = :a"],
    # an event and its seal dropped from the middle of the log
    "dropped-row": [
        "DELETE FROM audit_seals WHERE event_id = :a",
        "DELETE FROM audit_events WHERE id = :a",
    ],
    # two sealed events trade places in the chain (seal rows point at each other's event)
    "reordered-rows": [
        "ALTER TABLE audit_seals DROP CONSTRAINT fk_audit_seals_event_id_audit_events",
        "UPDATE audit_seals SET event_id = -1 WHERE event_id = :a",
        "UPDATE audit_seals SET event_id = :a WHERE event_id = :b",
        "UPDATE audit_seals SET event_id = :b WHERE event_id = -1",
    ],
    # a column edited but the stored bytes not: only the column comparison sees it
    "edited-column-only": ["UPDATE audit_events SET actor = actor || 'x' WHERE id = :a"],
}


@pytest.mark.postgres
@pytest.mark.parametrize("kind", sorted(TAMPER))
def test_each_kind_of_tampering_makes_the_fast_check_decline_and_is_named(
    pg_app: Flask, kind: str
) -> None:
    add_events(30)
    seal_pending(db.session, key(pg_app), batch=6)
    ids = dict(db.session.execute(sa.text("SELECT seq, event_id FROM audit_seals")).all())
    db.session.rollback()
    with behind_the_back() as attacker:
        for statement in TAMPER[kind]:
            attacker.execute(sa.text(statement), {"a": ids[A], "b": ids[B]})
    public = key(pg_app).public_key()
    assert fast_verify.verify_stored(db.session, public, checkpoints(db.session)) is None
    db.session.rollback()
    result = verify_database(db.session, public)
    assert not result.ok, (kind, result.message)
    assert result.first_bad_seq == A, (kind, result.message)
    if kind != "dropped-row":
        assert f"event {ids[A] if kind != 'reordered-rows' else ids[B]}" in result.message


@pytest.mark.postgres
def test_a_changed_stored_byte_makes_the_fast_check_decline_and_the_full_pass_decide(
    pg_app: Flask,
) -> None:
    """The stored bytes are the sealer's copy of the encoding, not the log: when one of
    them changes, the fast check does not report from them and the full pass, which
    re-encodes the columns, decides (here the events are intact, so the log verifies)."""
    add_events(30)
    seal_pending(db.session, key(pg_app), batch=6)
    with behind_the_back() as attacker:
        attacker.execute(
            sa.text(
                "UPDATE audit_seals SET canonical = set_byte(canonical, 3, get_byte(canonical, 3)"
                " # 1) WHERE seq = :a"
            ),
            {"a": A},
        )
    with db.engine.connect() as connection:
        assert [seq for seq, _ in fast_verify.mismatched_columns(connection, last=10**9)] == [A]
    public = key(pg_app).public_key()
    assert fast_verify.verify_stored(db.session, public, checkpoints(db.session)) is None
    db.session.rollback()
    assert verify_database(db.session, public) == verify_database(db.session, public, deep=True)
    assert verify_database(db.session, public).ok
