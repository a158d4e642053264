"""Streaming verification of the sealed log (see chain.py for the encoding and the hash
chain): `verify_chain` recomputes every link from a single pass over (seq, event, hash)
rows, checks each signed checkpoint as its seq is reached, and names the first event
that was edited, removed, inserted or reordered. It holds only a few rows in memory.
`verify_export` checks a JSONL export offline with it. Pure code: no database, no Flask."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from itertools import chain as _chain
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from distserver.audit.chain import GENESIS, canonical_bytes, link_hash
from distserver.audit.checkpoints import Checkpoint, is_hash_hex, key_id, verify_checkpoint
from distserver.audit.export import MalformedExport, read_export

HASH_WINDOW = 1024  # recent chain hashes kept, for checkpoints that arrive a little late


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events_checked: int
    checkpoints_checked: int
    first_bad_seq: int | None = None
    first_bad_event_id: int | None = None
    # edited, malformed, removed, inserted, swapped, reordered, truncated,
    # bad-checkpoint, rewritten, unsigned (see require_signed_head)
    reason: str | None = None
    detail: str | None = None
    head_seq: int | None = None  # the last seq that verified, and the chain hash there
    head_hash: str | None = None
    signed_seq: int | None = None  # the last seq a verified checkpoint covers

    @property
    def message(self) -> str:
        if self.ok:
            head = f" up to seq {self.head_seq} (head {self.head_hash})" if self.head_hash else ""
            return (
                f"ok: {self.events_checked} events verified{head}, "
                f"{self.checkpoints_checked} checkpoints verified"
            )
        seq, eid = self.first_bad_seq, self.first_bad_event_id
        who = f"event {eid} (seq {seq})" if eid is not None else f"seq {seq}"
        text = {
            "edited": f"{who} was edited",
            "malformed": f"{who} is malformed",
            "removed": f"{who} was removed",
            "inserted": f"{who} was inserted",
            "swapped": f"{who} was swapped",
            "reordered": f"{who} is out of order",
            "truncated": f"the log was truncated from seq {seq} on",
            "bad-checkpoint": f"the checkpoint at seq {seq} is invalid",
            "rewritten": f"the chain was rewritten at or after {who}",
            "unsigned": "no signed checkpoint covers the end of the log",
        }.get(self.reason or "", f"{who}: {self.reason}")
        return f"{text}: {self.detail}" if self.detail else text


class _Row(NamedTuple):
    seq: int | None
    event_id: int | None
    data: bytes | None  # canonical bytes
    stored: bytes | None  # stored hash
    error: str | None


def _row(item: Any) -> _Row:
    try:
        seq, event, stored = item
    except (TypeError, ValueError):
        return _Row(None, None, None, None, "not a (seq, event, hash) triple")
    eid = event.get("id") if isinstance(event, Mapping) else None
    eid = eid if type(eid) is int else None
    seq = seq if type(seq) is int and 0 <= seq < 2**64 else None
    error = None if seq is not None else "its seq is not a valid integer"
    stored = bytes.fromhex(stored) if is_hash_hex(stored) else None
    error = error or (None if stored else "its stored hash is not 64 lowercase hex digits")
    try:
        data = canonical_bytes(event)
    except (ValueError, TypeError) as exc:
        data, error = None, error or str(exc)
    return _Row(seq, eid, data, stored, error)


def _fits(row: _Row | None, prev: bytes | None, seq: int, target: bytes | None) -> bool:
    """Would `row`'s event, linked to `prev` at `seq`, give `target`?"""
    if row is None or row.data is None or prev is None or target is None or seq < 0:
        return False
    return link_hash(prev, seq, row.data) == target


class _Verifier:
    def __init__(
        self,
        sealed: Iterable[Any],
        checkpoints: Iterable[Checkpoint],
        public_key: Ed25519PublicKey,
        start_seq: int,
        prev_hash: bytes,
    ) -> None:
        self.rows = iter(sealed)
        # A list is read live: read_export appends to it while the rows are consumed.
        self.cp_source = checkpoints if isinstance(checkpoints, list) else list(checkpoints)
        self.cp_taken = 0
        self.pending: list[tuple[int, int, Checkpoint]] = []
        self.public_key, self.key_id = public_key, key_id(public_key)
        self.start = self.expected = start_seq
        self.head: bytes = prev_hash
        self.head_prev: bytes | None = None
        self.prev_row: _Row | None = None
        self.window: deque[bytes] = deque(maxlen=HASH_WINDOW)  # window[-1] = hash at expected - 1
        self.checked = self.cps_checked = 0
        # The first seq after the last checkpoint that verified, and its event id.
        self.anchor_seq = start_seq
        self.anchor_id: int | None = None
        self.mismatch: tuple[Checkpoint, str] | None = None  # a signed head that differs

    def run(self) -> VerifyResult:
        while True:
            row = self.pull()
            self.poll()
            if bad := self.due():
                return bad
            if row is None:
                break
            ok = row.error is None and row.seq == self.expected
            h = (
                link_hash(self.head, self.expected, row.data)
                if ok and row.data is not None
                else None
            )
            if h is None or h != row.stored:
                found = self.classify(row)
                if self.mismatch and (found.first_bad_seq or 0) > self.mismatch[0].seq:
                    return self.rewritten()
                return found
            if self.mismatch:
                return self.rewritten()
            self.head_prev, self.head = self.head, h
            self.window.append(h)
            self.expected += 1
            self.checked += 1
            self.prev_row = row
            if row.seq == self.anchor_seq:
                self.anchor_id = row.event_id
            if bad := self.due():
                return bad
        return self.rewritten() if self.mismatch else self.finish()

    def pull(self) -> _Row | None:
        try:
            return _row(next(self.rows))
        except StopIteration:
            return None
        except MalformedExport as exc:
            return _Row(None, None, None, None, str(exc))

    def poll(self) -> None:
        while self.cp_taken < len(self.cp_source):
            cp = self.cp_source[self.cp_taken]
            self.cp_taken += 1
            seq = cp.seq if isinstance(cp, Checkpoint) and type(cp.seq) is int else -1
            heapq.heappush(self.pending, (seq, self.cp_taken, cp))

    def problem(self, cp: Checkpoint) -> str | None:
        if not isinstance(cp, Checkpoint):
            return "it is not a checkpoint"
        if cp.key_id != self.key_id:
            return f"it names key {cp.key_id!r}, not the verifying key {self.key_id}"
        if not verify_checkpoint(self.public_key, cp):
            return "its signature does not verify"
        return None

    def due(self) -> VerifyResult | None:
        head_seq = self.expected - 1
        while self.pending and self.pending[0][0] <= head_seq:
            seq, _, cp = heapq.heappop(self.pending)
            if 0 <= seq < self.start:
                continue  # before the range being verified
            if problem := self.problem(cp):
                return self.fail(seq, None, "bad-checkpoint", problem)
            back = head_seq - seq
            if back >= len(self.window):
                return self.fail(seq, None, "bad-checkpoint", "it comes too late in the stream")
            actual = self.window[-1 - back].hex()
            if actual != cp.head_hash:
                self.mismatch = self.mismatch or (cp, actual)
                continue
            self.cps_checked += 1
            if seq + 1 > self.anchor_seq:
                self.anchor_seq, self.anchor_id = seq + 1, None
        return None

    def finish(self) -> VerifyResult:
        left = [cp for _, _, cp in sorted(self.pending, key=lambda p: (p[0], p[1]))]
        valid = [cp for cp in left if self.problem(cp) is None]
        if valid:
            end = f"ends at seq {self.expected - 1}" if self.checked else "is empty"
            detail = f"a valid checkpoint signs seq {valid[-1].seq}, but the log {end}"
            return self.fail(self.expected, None, "truncated", detail)
        if left:
            return self.fail(left[0].seq, None, "bad-checkpoint", self.problem(left[0]))
        return self.result(True)

    def rewritten(self) -> VerifyResult:
        assert self.mismatch is not None
        cp, actual = self.mismatch
        detail = (
            f"the checkpoint at seq {cp.seq} signs head {cp.head_hash}, the log gives {actual}: "
            f"an event from seq {self.anchor_seq} to {cp.seq} was changed and re-hashed"
        )
        return self.fail(self.anchor_seq, self.anchor_id, "rewritten", detail)

    def result(self, ok: bool, *bad: Any) -> VerifyResult:
        head = (self.expected - 1, self.head.hex()) if self.checked else (None, None)
        seq, eid, reason, detail = bad or (None, None, None, None)
        return VerifyResult(
            ok,
            self.checked,
            self.cps_checked,
            first_bad_seq=seq,
            first_bad_event_id=eid,
            reason=reason,
            detail=detail,
            head_seq=head[0],
            head_hash=head[1],
            signed_seq=self.anchor_seq - 1 if self.cps_checked else None,
        )

    def fail(self, seq: int, eid: int | None, reason: str, detail: str | None) -> VerifyResult:
        return self.result(False, seq, eid, reason, detail)

    def rest(self) -> Iterator[_Row]:
        while (row := self.pull()) is not None:
            yield row

    def classify(self, cur: _Row) -> VerifyResult:
        """`cur` is the first row that does not continue the chain: name the first bad seq."""
        e, p = self.expected, self.prev_row
        if cur.error is not None:
            return self.fail(e, cur.event_id, "malformed", cur.error)
        nxt = self.pull()
        later = _chain((nxt,), self.rest()) if nxt else iter(())
        assert cur.seq is not None
        if cur.seq > e:
            return self.gap(cur, nxt, later)
        if cur.seq < e:
            return self.backwards(cur, nxt)
        if p and cur.stored == p.stored and cur.data == p.data:
            return self.fail(e, cur.event_id, "inserted", f"it repeats event {p.event_id}")
        if p and _fits(cur, self.head_prev, e - 1, cur.stored):
            detail = f"event {cur.event_id}, now at seq {e}, belongs at seq {e - 1}"
            return self.fail(e - 1, p.event_id, "inserted", detail)
        if nxt and _fits(nxt, self.head, e, nxt.stored):
            if _fits(cur, nxt.stored, e + 1, cur.stored):
                detail = f"it changed places with event {nxt.event_id} (seq {e + 1})"
                return self.fail(e, cur.event_id, "swapped", detail)
            detail = f"event {nxt.event_id}, now at seq {e + 1}, belongs at seq {e}"
            return self.fail(e, cur.event_id, "inserted", detail)
        if nxt and _fits(nxt, cur.stored, e + 2, nxt.stored):
            detail = f"event {cur.event_id} and the ones after it were renumbered"
            return self.fail(e, None, "removed", detail)
        for row in later:  # did cur's contents, or cur's whole row, move elsewhere?
            if row.data is not None and link_hash(self.head, e, row.data) in (
                cur.stored,
                row.stored,
            ):
                detail = f"it changed places with event {row.event_id} (seq {row.seq})"
                return self.fail(e, cur.event_id, "swapped", detail)
        return self.fail(e, cur.event_id, "edited", "its hash does not match its contents")

    def gap(self, cur: _Row, nxt: _Row | None, later: Iterator[_Row]) -> VerifyResult:
        e = self.expected
        if nxt and nxt.seq == e and _fits(nxt, self.head, e, nxt.stored):
            if cur.seq == e + 1 and _fits(cur, nxt.stored, e + 1, cur.stored):
                detail = f"it claims seq {cur.seq}; it changed places with event {nxt.event_id}"
                return self.fail(e, cur.event_id, "swapped", detail)
            detail = f"it claims seq {cur.seq} and comes before seq {e}"
            return self.fail(e, cur.event_id, "inserted", detail)
        n, skipped = (cur.seq or 0) - e, False  # were the skipped seqs removed, or moved?
        for position, row in enumerate(later, e + 1):
            if row.seq == e:
                if position == cur.seq:
                    detail = f"it changed places with event {row.event_id} (seq {e})"
                    return self.fail(e, cur.event_id, "swapped", detail)
                skipped = True
                break
            skipped = skipped or (row.seq is not None and e < row.seq < e + n)
        if skipped:
            detail = f"seq {cur.seq} comes before seq {e}"
            return self.fail(e, cur.event_id, "reordered", detail)
        detail = (
            f"{n} event{'s' if n > 1 else ''} missing before event {cur.event_id} (seq {cur.seq})"
        )
        return self.fail(e, None, "removed", detail)

    def backwards(self, cur: _Row, nxt: _Row | None) -> VerifyResult:
        e, p = self.expected, self.prev_row
        if p and cur.seq == p.seq:
            if cur.stored == p.stored and cur.data == p.data:
                return self.fail(e, cur.event_id, "inserted", f"it repeats event {p.event_id}")
            if _fits(cur, self.head_prev, e - 1, cur.stored):
                # Two rows claim seq e - 1 and both hash well: the genuine one is the one the
                # chain goes on from, or the one a checkpoint signs.
                signed = self.mismatch and (self.mismatch[0].seq, self.mismatch[0].head_hash)
                if signed == (e - 1, (cur.stored or b"").hex()) or (
                    nxt and _fits(nxt, cur.stored, e, nxt.stored)
                ):
                    detail = f"event {cur.event_id} also claims seq {e - 1}; the chain follows it"
                    return self.fail(e - 1, p.event_id, "inserted", detail)
            detail = f"it claims seq {cur.seq}, which event {p.event_id} already holds"
            return self.fail(e, cur.event_id, "inserted", detail)
        detail = f"it claims seq {cur.seq} but comes after seq {e - 1}"
        return self.fail(e, cur.event_id, "reordered", detail)


def verify_chain(
    sealed: Iterable[tuple[int, Mapping[str, Any], str]],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    start_seq: int = 0,
    prev_hash: bytes = GENESIS,
) -> VerifyResult:
    """Verify sealed rows `(seq, event fields, stored hash hex)`, read once in storage order.

    Recomputes every link from `prev_hash` and stops at the first row that does not continue
    the chain, naming the first bad seq (the position where the log departs from a valid
    chain) and, where it exists, the event id there; the rest of the stream may be read to
    tell a swap from an edit. Each checkpoint is checked (key, signature, head) once the chain
    reaches its seq; ones beyond the end mean the tail was removed. If `checkpoints` is a
    list it is read live, so it may grow while `sealed` is consumed (as `read_export` does);
    any other iterable is read up front. Checkpoints before `start_seq` are ignored.
    """
    return _Verifier(sealed, checkpoints, public_key, start_seq, prev_hash).run()


def require_signed_head(result: VerifyResult) -> VerifyResult:
    """Fail a chain that verified but whose last event no verified checkpoint covers.

    Anyone can recompute the hash chain (its formula is public); only a checkpoint signed
    with the audit key binds events to the server. So a copy of the log held outside the
    server (an export) proves nothing about events after its last signed checkpoint:
    the result names that unsigned tail (first and last seq) and is not ok."""
    if not result.ok:
        return result
    last, signed = result.head_seq, result.signed_seq
    if last is None:
        detail = "it holds no events and no signed checkpoint, so it proves nothing"
        return replace(result, ok=False, first_bad_seq=0, reason="unsigned", detail=detail)
    if signed == last:
        return result
    first = 0 if signed is None else signed + 1
    count = last - first + 1
    signed_part = (
        "no checkpoint in it verifies"
        if signed is None
        else f"the last verified checkpoint is at seq {signed}"
    )
    detail = (
        f"the unsigned tail is seq {first} to seq {last} ({count} event{'s' * (count > 1)}); "
        f"{signed_part}. Anyone can recompute a hash chain: only a signed checkpoint "
        "proves that events came from the server"
    )
    return replace(result, ok=False, first_bad_seq=first, reason="unsigned", detail=detail)


def verify_export(lines: Iterable[str | bytes], public_key: Ed25519PublicKey) -> VerifyResult:
    """Verify a JSONL export (as an unfiltered `distserver audit export` writes it) offline.
    Besides the chain and every checkpoint in it, a signed checkpoint must cover its last
    event: the events after the last one are not proved, and are named as the unsigned tail."""
    rows, cps = read_export(lines)
    return require_signed_head(verify_chain(rows, cps, public_key))
