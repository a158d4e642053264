"""The fast way `distserver audit verify` checks the sealed log on PostgreSQL.

Two checks run at the same time, on two connections:

- **The chain, with hashlib alone.** The sealer keeps the canonical bytes it hashed
  (`audit_seals.canonical`). One binary COPY streams `(seq || bytes, stored hash)` in seq
  order; psycopg parses the rows in C and Python does, per event, what a bare hashing
  loop does: one concatenation and one SHA-256. Stored hashes are compared a chunk at a
  time, checkpoints at their seq. Seals from before the bytes were kept get their
  event's bytes rebuilt in SQL (`REBUILT_BYTES`).
- **The bytes against the columns, set-based.** One query rebuilds each event's
  canonical bytes from its columns in SQL (`REBUILT_BYTES`, equal to `canonical_bytes`
  by a property test) and returns the seals whose stored bytes differ, or whose event
  is gone: an edited column is still caught.

This module only says "all verified" or "not sure": on any difference at all (a hash, a
gap, a checkpoint, a column, an error) it returns None and the caller runs the full
re-encoding pass (`verify_chain`, the `--deep` mode), which names the first bad event
exactly as before. So it can make verification faster, never more lenient.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from distserver.audit.chain import GENESIS
from distserver.audit.chain_verifier import VerifyResult
from distserver.audit.checkpoints import Checkpoint, key_id, verify_checkpoint

CHUNK = 10_000  # stored hashes compared at once
COMPARE_PARTS = 2  # concurrent ranges of the column comparison


def _json_array(*columns: str) -> str:
    """The columns as one JSON array of strings (or nulls), as UTF-8 bytes: one
    array_to_json call per row, which costs a third of one to_json per column."""
    return f"convert_to(array_to_json(ARRAY[{', '.join(columns)}]::text[])::text, 'UTF8')"


_TEXT_COLUMNS: tuple[str, ...] = (
    "e.actor",
    "e.address",
    "e.user_agent",
    "e.model",
    "e.revision",
    "e.path",
)
_TEXT_COLUMNS += ("e.sha256", "e.tier", "e.reason", "e.link_id", "e.data")

# The canonical encoding (chain.py) of an audit_events row `e`, as bytea, built only from
# constants. array_to_json escapes each string exactly as json.dumps(ensure_ascii=False)
# does (" \\ \b \f \n \r \t, other controls as \u00xx, everything else raw; text cannot
# hold U+0000), writes NULL as null and separates the elements with ",". The two arrays
# are `["<time>","<tag>"]` and `["<actor>",...,"<data>"]`: their brackets are one byte
# each, cut off with a bytea substring (by byte offset, O(1)); trimming the text instead
# (btrim, substr) walks every character of a multibyte string and cost more than the
# escaping. The arrays are computed once per row in REBUILT_LATERAL (OFFSET 0 keeps the
# planner from inlining them, which would evaluate each twice).
REBUILT_LATERAL = (
    "CROSS JOIN LATERAL (SELECT "
    + _json_array(
        "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
        "e.tag",
    )
    + " AS head, "
    + _json_array(*_TEXT_COLUMNS)
    + " AS tail OFFSET 0) AS j"
)
REBUILT_BYTES = (
    "convert_to('[' || e.id::text || ',', 'UTF8')"
    " || substring(j.head FROM 2 FOR octet_length(j.head) - 2)"
    " || convert_to(',' || coalesce(e.actor_id::text, 'null') || ',', 'UTF8')"
    " || substring(j.tail FROM 2)"
)
# FROM clause: every event `e` with its canonical bytes as REBUILT_BYTES.
EVENTS_REBUILT = f"audit_events e {REBUILT_LATERAL}"

_BOUNDS = text("SELECT min(seq), max(seq) FROM audit_seals")
# Binary COPY of each seal as (seq as 8 bytes || canonical bytes, stored hash), in seq
# order. A seal from before the bytes were kept (canonical NULL) gets its event's bytes
# rebuilt in SQL; the subquery runs only for those.
_COPY = (
    "COPY (SELECT int8send(s.seq) || coalesce(s.canonical, (SELECT "  # noqa: S608
    + REBUILT_BYTES
    + f" FROM {EVENTS_REBUILT} WHERE e.id = s.event_id)), s.hash"
    " FROM audit_seals s WHERE s.seq <= {last:d} ORDER BY s.seq) TO STDOUT (FORMAT BINARY)"
)
MISMATCHES = text(
    "SELECT s.seq, s.event_id FROM audit_seals s"  # noqa: S608 (only constants)
    f" LEFT JOIN audit_events e ON e.id = s.event_id {REBUILT_LATERAL}"
    " WHERE s.seq >= :first AND s.seq <= :last AND s.canonical IS NOT NULL"
    f" AND (e.id IS NULL OR s.canonical <> {REBUILT_BYTES})"
    " ORDER BY s.seq LIMIT :limit"
)


class _Unsure(Exception):
    """Something differs: leave the naming to the full pass."""


def mismatched_columns(
    connection: Connection, last: int, limit: int = 10, *, first: int = 0
) -> list[tuple[int, int]]:
    """(seq, event id) of sealed events from seq `first` to `last` whose stored canonical
    bytes are not the encoding of their columns now (or whose event row is gone): the
    set-based comparison. Empty when every column still says what was sealed."""
    params = {"first": first, "last": last, "limit": limit}
    rows = connection.execute(MISMATCHES, params)
    return [(row[0], row[1]) for row in rows]


def _sealed_rows(connection: Connection, last: int) -> Iterator[tuple[bytes | None, str]]:
    """(seq || canonical bytes, stored hash) of seals 0..last, by binary COPY: psycopg
    parses the rows in C, PostgreSQL only reads the table."""
    raw = connection.connection.driver_connection
    assert raw is not None, "a pooled connection has its driver connection"
    with raw.cursor() as cursor, cursor.copy(_COPY.format(last=last)) as copy:
        copy.set_types(["bytea", "text"])
        yield from copy.rows()


def _hash_chain(
    rows: Iterator[tuple[bytes | None, str]], cps: list[Checkpoint]
) -> tuple[bytes, int]:
    """Recompute the chain over the rows with hashlib; check the stored hashes (one
    comparison per CHUNK rows) and each checkpoint's head. Returns (head, events)."""
    head, sha, at, count = GENESIS, hashlib.sha256, 0, 0
    digests: list[bytes] = []
    stored: list[str] = []
    keep, keep_stored = digests.append, stored.append
    for piece, hash_hex in rows:  # the hot loop: one concatenation, one SHA-256
        head = sha(head + piece).digest()  # type: ignore[operator]  # None: see below
        keep(head)
        keep_stored(hash_hex)
        if len(digests) == CHUNK:
            at = _check(digests, stored, count, cps, at)
            count += len(digests)
            digests.clear()
            stored.clear()
    at = _check(digests, stored, count, cps, at)
    return head, count + len(digests)


def chain_over_stored(
    connection: Connection, last: int, cps: list[Checkpoint]
) -> tuple[bytes, int]:
    """The chain over the stored bytes of seals 0..last (`cps` in seq order): (head, events).
    Raises if a stored hash or a checkpoint's head differs (or on a database error)."""
    return _hash_chain(_sealed_rows(connection, last), cps)


def _check(digests: list[bytes], stored: list[str], lo: int, cps: list[Checkpoint], at: int) -> int:
    if b"".join(digests).hex() != "".join(stored):
        raise _Unsure(f"a stored hash in seqs {lo}..{lo + len(digests) - 1} differs")
    while at < len(cps) and cps[at].seq < lo + len(digests):
        if digests[cps[at].seq - lo].hex() != cps[at].head_hash:
            raise _Unsure(f"the checkpoint at seq {cps[at].seq} signs another head")
        at += 1
    return at


def verify_stored(
    session: Session, public_key: Ed25519PublicKey, checkpoints: list[Checkpoint]
) -> VerifyResult | None:
    """The whole log verified from stored bytes, or None if anything differs (see the module
    docstring). `checkpoints` are all stored checkpoints, read before this is called."""
    engine = session.get_bind().engine
    if engine.dialect.name != "postgresql":
        return None
    our_key = key_id(public_key)
    if any(cp.key_id != our_key or not verify_checkpoint(public_key, cp) for cp in checkpoints):
        return None
    low, last = session.connection().execute(_BOUNDS).one()
    if last is None:
        return None if checkpoints else VerifyResult(True, 0, 0)
    cps = sorted(checkpoints, key=lambda cp: cp.seq)
    if low != 0 or (cps and cps[-1].seq > last):
        return None
    found: list[Any] = []

    def compare(first: int, end: int) -> None:
        try:
            with engine.connect() as other:
                found.extend(mismatched_columns(other, end, limit=1, first=first))
        except BaseException as exc:
            found.append(exc)

    # The comparison is PostgreSQL's work: in COMPARE_PARTS ranges on as many connections,
    # so that it keeps every core busy once the chain is hashed.
    step = last // COMPARE_PARTS + 1
    comparisons = [
        threading.Thread(target=compare, args=(lo, min(lo + step, last + 1) - 1), daemon=True)
        for lo in range(0, last + 1, step)
    ]
    for thread in comparisons:
        thread.start()
    try:
        head, count = chain_over_stored(session.connection(), last, cps)
    except (_Unsure, TypeError, SQLAlchemyError, psycopg.Error):
        # TypeError: a NULL piece (a seal whose event is gone) cannot be hashed.
        head, count = GENESIS, -1
    for thread in comparisons:
        thread.join()
    if found or count != last + 1:  # seq is the primary key: 0..last all there, no gap
        return None
    signed = cps[-1].seq if cps else None
    return VerifyResult(True, count, len(cps), None, None, None, None, last, head.hex(), signed)
