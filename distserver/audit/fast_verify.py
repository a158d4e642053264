"""The fast way `distserver audit verify` checks the sealed log on PostgreSQL.

Two checks run at the same time, on two connections:

- **The chain, with hashlib alone.** The sealer keeps the canonical bytes it hashed
  (`audit_seals.canonical`). One binary COPY streams the seals CHUNK at a time, one row
  per chunk: each seal's length, all `seq || bytes` concatenated, all stored hashes
  concatenated. Python checks that each chunk holds every seq of its range once, then
  does, per event, what a bare hashing loop does: one slice, one concatenation and one
  SHA-256; the stored hashes (each 64 characters, checked in SQL) are compared a chunk at
  a time, checkpoints at their seq. Seals from before the bytes were kept get their
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
import struct
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

CHUNK = 4_000  # seals per COPY row; their stored hashes are compared at once
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
# Binary COPY of the seals 0..last, one row per CHUNK seals in seq order, so that psycopg
# builds a few Python objects per chunk instead of per seal (that was 1.6 us of the 2.4 us
# Python spent per event): (first seq of the chunk, seals in it, seals with bytes, stored
# hashes not 64 characters long, each seal's `seq || bytes` length as int4, all of them
# concatenated, all stored hashes concatenated). A seal from before the bytes were kept
# (canonical NULL) gets its event's bytes rebuilt in SQL; the subquery runs only for those.
# The chunks come out in generate_series order with no outer ORDER BY (one made PostgreSQL
# sort the whole stream before sending it); the order of the chunks and of the seals in one
# is checked by the chain itself, since every piece starts with its seq.
_COPY = (
    "COPY (SELECT c.lo, a.* FROM generate_series(0::int8, {last:d}, {chunk:d}) AS c(lo)"  # noqa: S608 (only constants)
    " CROSS JOIN LATERAL (SELECT count(*), count(p.piece),"
    " count(*) FILTER (WHERE octet_length(p.hash) <> 64),"
    " string_agg(int4send(octet_length(p.piece)), ''::bytea),"
    " string_agg(p.piece, ''::bytea), string_agg(p.hash, '') FROM ("
    "SELECT int8send(s.seq) || coalesce(s.canonical, (SELECT "
    + REBUILT_BYTES
    + f" FROM {EVENTS_REBUILT} WHERE e.id = s.event_id)) AS piece, s.hash"
    " FROM audit_seals s WHERE s.seq >= c.lo AND s.seq < c.lo + {chunk:d} AND s.seq <= {last:d}"
    " ORDER BY s.seq) AS p) AS a) TO STDOUT (FORMAT BINARY)"
)
_COPY_TYPES = ["int8", "int8", "int8", "int8", "bytea", "bytea", "text"]
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


Chunk = tuple[int, int, int, int, bytes | None, bytes | None, str | None]


def _sealed_chunks(connection: Connection, last: int) -> Iterator[Chunk]:
    """The seals 0..last, CHUNK at a time, as `_COPY` gives them: psycopg parses one row
    per chunk in C, PostgreSQL reads the seals by their primary key."""
    raw = connection.connection.driver_connection
    assert raw is not None, "a pooled connection has its driver connection"
    # JIT compiling this query costs more CPU than it saves.
    raw.execute("SET LOCAL jit = off")
    with raw.cursor() as cursor, cursor.copy(_COPY.format(last=last, chunk=CHUNK)) as copy:
        copy.set_types(_COPY_TYPES)
        yield from copy.rows()


def _hash_chain(chunks: Iterator[Chunk], last: int, cps: list[Checkpoint]) -> tuple[bytes, int]:
    """Recompute the chain over the chunks with hashlib; check that they hold every seq
    from 0 to `last` once, every stored hash (one comparison per chunk) and each
    checkpoint's head. Returns (head, events)."""
    head, sha, at, count = GENESIS, hashlib.sha256, 0, 0
    for lo, n, with_bytes, bad_hashes, lengths, pieces, stored in chunks:
        # seq is the primary key, so n seals in [lo, lo + CHUNK) means none is missing.
        whole = n == min(CHUNK, last + 1 - lo) and with_bytes == n and not bad_hashes
        if lo != count or not whole or lengths is None or pieces is None or stored is None:
            raise _Unsure(f"the seals from seq {lo} on are not {n} whole, hashed seals")
        digests: list[bytes] = []
        keep, start = digests.append, 0
        for length in struct.unpack(f">{n}i", lengths):  # the hot loop: one slice, one SHA-256
            end = start + length
            head = sha(head + pieces[start:end]).digest()
            keep(head)
            start = end
        if start != len(pieces):
            raise _Unsure(f"the bytes of seqs {lo}..{lo + n - 1} do not add up")
        at = _check(digests, stored, lo, cps, at)
        count += n
    return head, count


def chain_over_stored(
    connection: Connection, last: int, cps: list[Checkpoint]
) -> tuple[bytes, int]:
    """The chain over the stored bytes of seals 0..last (`cps` in seq order): (head, events).
    Raises if a stored hash or a checkpoint's head differs (or on a database error)."""
    return _hash_chain(_sealed_chunks(connection, last), last, cps)


def _check(digests: list[bytes], stored: str, lo: int, cps: list[Checkpoint], at: int) -> int:
    """Each stored hash of the chunk is 64 characters (checked in SQL), so one comparison
    of the concatenations compares each with its digest."""
    if b"".join(digests).hex() != stored:
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
    except (_Unsure, struct.error, SQLAlchemyError, psycopg.Error):
        head, count = GENESIS, -1
    for thread in comparisons:
        thread.join()
    if found or count != last + 1:  # seq is the primary key: 0..last all there, no gap
        return None
    signed = cps[-1].seq if cps else None
    return VerifyResult(True, count, len(cps), None, None, None, None, last, head.hex(), signed)
