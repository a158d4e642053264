"""The fast way `distserver audit verify` checks the sealed log on PostgreSQL.

Two checks run at the same time, on two connections:

- **The chain, with hashlib alone.** The sealer keeps the canonical bytes it hashed
  (`audit_seals.canonical`). They are read in seq ranges of `CHUNK`, each range as three
  byte strings aggregated by PostgreSQL (the `seq || bytes` pieces, their lengths, the
  stored hashes), so Python does no per-row decoding: per event it does one SHA-256, as a
  bare hashing loop does. A reader thread fetches the next range while this one hashes.
  Seals from before the bytes were kept are re-encoded from their columns.
- **The bytes against the columns, set-based.** One query rebuilds each event's
  canonical bytes from its columns in SQL (`CANONICAL_SQL`, equal to `canonical_bytes`
  by a property test) and returns the seals whose stored bytes differ, or whose event
  is gone: an edited column is still caught.

This module only says "all verified" or "not sure": on any difference at all (a hash, a
gap, a checkpoint, a column, an error) it returns None and the caller runs the full
re-encoding pass (`verify_chain`, the `--deep` mode), which names the first bad event
exactly as before. So it can make verification faster, never more lenient.
"""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
from array import array
from collections.abc import Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from distserver.audit.chain import GENESIS, canonical_bytes
from distserver.audit.checkpoints import Checkpoint, key_id, verify_checkpoint
from distserver.audit.verification import VerifyResult

CHUNK = 10_000  # seals per range: about 4 MB of bytes, three ranges in flight at most


def _json_text(column: str) -> str:
    return f"coalesce(to_json({column})::text, 'null')"


_TEXT_COLUMNS = ("actor", "address", "user_agent", "model", "revision", "path", "sha256")
_TEXT_COLUMNS += ("tier", "reason", "link_id", "data")

# The canonical encoding (chain.py) of an audit_events row `e`, as PostgreSQL text, built
# only from constants. to_json escapes a string exactly as json.dumps(ensure_ascii=False)
# does (" \\ \b \f \n \r \t, other controls as \u00xx, everything else raw); text cannot
# hold U+0000.
CANONICAL_SQL = (
    " || ',' || ".join(
        [
            "'[' || e.id::text",
            "'\"' || to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
            " || '\"'",
            _json_text("e.tag"),
            "coalesce(e.actor_id::text, 'null')",
            *(_json_text(f"e.{name}") for name in _TEXT_COLUMNS),
        ]
    )
    + " || ']'"
)

_BOUNDS = text("SELECT min(seq), max(seq) FROM audit_seals")
_RANGE = text(
    "SELECT count(*), count(canonical),"
    " string_agg(int8send(seq) || canonical, ''::bytea ORDER BY seq),"
    " string_agg(int4send(octet_length(canonical) + 8), ''::bytea ORDER BY seq),"
    " string_agg(hash, '' ORDER BY seq)"
    " FROM audit_seals WHERE seq >= :lo AND seq < :hi"
)
_LEGACY = text(
    "SELECT s.seq, s.hash, e.* FROM audit_seals s JOIN audit_events e ON e.id = s.event_id"
    " WHERE s.seq >= :lo AND s.seq < :hi ORDER BY s.seq"
)
_MISMATCH_WHERE = f"s.canonical <> convert_to({CANONICAL_SQL}, 'UTF8')"
MISMATCHES = text(
    "SELECT s.seq, s.event_id FROM audit_seals s"  # noqa: S608 (only constants)
    " LEFT JOIN audit_events e ON e.id = s.event_id"
    " WHERE s.seq <= :last AND s.canonical IS NOT NULL"
    f" AND (e.id IS NULL OR {_MISMATCH_WHERE})"
    " ORDER BY s.seq LIMIT :limit"
)


class _Unsure(Exception):
    """Something differs: leave the naming to the full pass."""


def mismatched_columns(connection: Connection, last: int, limit: int = 10) -> list[tuple[int, int]]:
    """(seq, event id) of sealed events, up to seq `last`, whose stored canonical bytes are
    not the encoding of their columns now (or whose event row is gone): the set-based
    comparison. Empty when every column still says what was sealed."""
    rows = connection.execute(MISMATCHES, {"last": last, "limit": limit})
    return [(row[0], row[1]) for row in rows]


def _ranges(connection: Connection, last: int) -> Iterator[tuple[int, bytes, array, str]]:
    """(first seq, pieces, piece lengths, stored hashes hex) for each range of seals."""
    big_endian = sys.byteorder == "big"
    for lo in range(0, last + 1, CHUNK):
        hi = min(lo + CHUNK, last + 1)
        count, stored, blob, lengths, hashes = connection.execute(
            _RANGE, {"lo": lo, "hi": hi}
        ).one()
        if count != hi - lo:  # seq is the primary key: a full count means no gap
            raise _Unsure(f"seqs {lo}..{hi - 1} have a gap")
        if stored != count:  # sealed before the bytes were kept: encode the columns
            yield lo, *_encode(connection, lo, hi)
            continue
        sizes = array("i")
        sizes.frombytes(lengths)
        if not big_endian:
            sizes.byteswap()
        yield lo, blob, sizes, hashes


def _encode(connection: Connection, lo: int, hi: int) -> tuple[bytes, array, str]:
    pieces, sizes, hashes = [], array("i"), []
    for seq, (row_seq, hash_hex, *_), event in _events(connection, lo, hi):
        piece = row_seq.to_bytes(8, "big") + canonical_bytes(event)
        pieces.append(piece)
        sizes.append(len(piece))
        hashes.append(hash_hex)
        if row_seq != seq:
            raise _Unsure(f"seq {seq} is missing its event")
    if len(sizes) != hi - lo:
        raise _Unsure(f"an event of seqs {lo}..{hi - 1} is missing")
    return b"".join(pieces), sizes, "".join(hashes)


def _events(connection: Connection, lo: int, hi: int) -> Iterator[tuple[int, Any, dict]]:
    result = connection.execute(_LEGACY, {"lo": lo, "hi": hi})
    names = list(result.keys())[2:]
    for seq, row in enumerate(result, lo):
        yield seq, row, dict(zip(names, row[2:], strict=True))


def _prefetched(connection: Connection, last: int) -> Iterator[tuple[int, bytes, array, str]]:
    """`_ranges`, read one range ahead by a thread: PostgreSQL assembles the next range
    while this thread hashes the current one."""
    ahead: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def read() -> None:
        try:
            for item in _ranges(connection, last):
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(None)
        except BaseException as exc:  # handed over to the consuming thread
            ahead.put(exc)

    reader = threading.Thread(target=read, name="audit-verify-reader", daemon=True)
    reader.start()
    try:
        while (item := ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _hash_chain(
    ranges: Iterator[tuple[int, bytes, array, str]], cps: list[Checkpoint]
) -> tuple[bytes, int]:
    """Recompute the chain over the ranges; check each stored hash (one comparison per
    range) and each checkpoint's head. Returns (head hash, checkpoints matched)."""
    head, sha, matched, at = GENESIS, hashlib.sha256, 0, 0
    for lo, blob, sizes, stored in ranges:
        digests: list[bytes] = []
        keep, start = digests.append, 0
        for size in sizes:  # the hot loop: one slice and one SHA-256 per event
            end = start + size
            head = sha(head + blob[start:end]).digest()
            keep(head)
            start = end
        if b"".join(digests).hex() != stored:
            raise _Unsure(f"a stored hash in seqs {lo}..{lo + len(sizes) - 1} differs")
        while at < len(cps) and cps[at].seq < lo + len(digests):
            if digests[cps[at].seq - lo].hex() != cps[at].head_hash:
                raise _Unsure(f"the checkpoint at seq {cps[at].seq} signs another head")
            matched, at = matched + 1, at + 1
    return head, matched


def verify_stored(
    session: Session, public_key: Ed25519PublicKey, checkpoints: list[Checkpoint]
) -> VerifyResult | None:
    """The whole log verified from stored bytes, or None if anything differs (see the module
    docstring). `checkpoints` are all stored checkpoints, read before this is called."""
    engine = session.get_bind()
    if engine.dialect.name != "postgresql":
        return None
    our_key = key_id(public_key)
    if any(cp.key_id != our_key or not verify_checkpoint(public_key, cp) for cp in checkpoints):
        return None
    low, last = session.connection().execute(_BOUNDS).one()
    if last is None:
        return None if checkpoints else VerifyResult(True, 0, 0)
    if low != 0 or (checkpoints and checkpoints[-1].seq > last):
        return None
    cps = sorted(checkpoints, key=lambda cp: cp.seq)
    found: list[Any] = []

    def compare() -> None:
        try:
            with engine.connect() as other:
                found.extend(mismatched_columns(other, last, limit=1))
        except BaseException as exc:
            found.append(exc)

    comparison = threading.Thread(target=compare, name="audit-verify-columns", daemon=True)
    comparison.start()
    try:
        head, matched = _hash_chain(_prefetched(session.connection(), last), cps)
    except (_Unsure, SQLAlchemyError):
        comparison.join()
        return None
    comparison.join()
    if found:
        return None
    signed = cps[-1].seq if cps else None
    return VerifyResult(True, last + 1, matched, None, None, None, None, last, head.hex(), signed)
