"""The chain half of the fast check (distserver.audit.fast_verify) streams the seals a
chunk at a time: every stored hash, every chunk boundary and every hole in the stream
must make the fast check decline exactly where the full pass would fail, never pass."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from distserver.audit import fast_verify
from distserver.audit.database_verify import verify_database
from distserver.audit.queries import checkpoints
from distserver.audit.sealing import seal_pending
from distserver.extensions import db
from tests.audit.helpers import add_events, key
from tests.audit.test_fast_verify import behind_the_back

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(make_app) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    app = make_app("postgres")
    with app.app_context():
        yield app


def _fast(app: Flask) -> fast_verify.VerifyResult | None:
    result = fast_verify.verify_stored(db.session, key(app).public_key(), checkpoints(db.session))
    db.session.rollback()
    return result


def test_stored_hashes_split_at_another_place_make_the_fast_check_decline(
    pg_app: Flask,
) -> None:
    """Seq 3's stored hash loses its last digit to seq 4's: the concatenation of the stored
    hashes is unchanged, but seq 3's is no longer 64 hex digits, which the full pass
    refuses. The fast check must not accept it. (The column holds 64 characters: the
    attacker, a superuser, widens it first.)"""
    add_events(12)
    seal_pending(db.session, key(pg_app), batch=5)
    with behind_the_back() as attacker:
        attacker.execute(sa.text("ALTER TABLE audit_seals ALTER COLUMN hash TYPE varchar(65)"))
        attacker.execute(
            sa.text(
                "UPDATE audit_seals SET hash = CASE seq"
                " WHEN 3 THEN left(hash, 63)"
                " ELSE (SELECT right(h.hash, 1) FROM audit_seals h WHERE h.seq = 3) || hash END"
                " WHERE seq IN (3, 4)"
            )
        )
    assert _fast(pg_app) is None
    result = verify_database(db.session, key(pg_app).public_key())
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 3, "malformed"), result


@pytest.mark.parametrize("chunk", [1, 7, 8, 45, 1000])
def test_the_fast_check_gives_the_full_pass_verdict_whatever_the_chunk_size(
    pg_app: Flask, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(fast_verify, "CHUNK", chunk)
    add_events(45)
    seal_pending(db.session, key(pg_app), batch=8)
    fast = _fast(pg_app)
    deep = verify_database(db.session, key(pg_app).public_key(), deep=True)
    assert fast is not None
    assert fast == deep
    assert fast.ok
    assert fast.events_checked == 45


@pytest.mark.parametrize("seq", [0, 6, 7, 13, 44])
def test_a_seal_missing_at_or_next_to_a_chunk_boundary_makes_the_fast_check_decline(
    pg_app: Flask, monkeypatch: pytest.MonkeyPatch, seq: int
) -> None:
    monkeypatch.setattr(fast_verify, "CHUNK", 7)
    add_events(45)
    seal_pending(db.session, key(pg_app), batch=9)
    with behind_the_back() as attacker:
        attacker.execute(sa.text("DELETE FROM audit_seals WHERE seq = :s"), {"s": seq})
    assert _fast(pg_app) is None
    result = verify_database(db.session, key(pg_app).public_key())
    assert not result.ok
    assert result.first_bad_seq == seq, result.message


def test_an_old_seal_whose_event_is_gone_makes_the_fast_check_decline(pg_app: Flask) -> None:
    """A seal from before the bytes were kept has its bytes rebuilt from its event; with the
    event row gone there is nothing to hash, and the full pass names the seal."""
    add_events(20)
    seal_pending(db.session, key(pg_app), batch=6)
    with behind_the_back() as attacker:
        attacker.execute(
            sa.text("ALTER TABLE audit_seals DROP CONSTRAINT fk_audit_seals_event_id_audit_events")
        )
        attacker.execute(sa.text("UPDATE audit_seals SET canonical = NULL WHERE seq = 11"))
        gone = "SELECT event_id FROM audit_seals WHERE seq = 11"
        attacker.execute(sa.text(f"DELETE FROM audit_events WHERE id = ({gone})"))  # noqa: S608
    assert _fast(pg_app) is None
    result = verify_database(db.session, key(pg_app).public_key())
    assert not result.ok
    assert result.first_bad_seq == 11, result.message
