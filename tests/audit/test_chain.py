"""The pure chain code: encoding, sealing, checkpoints, streaming verification, export.

The randomised test tampers with sealed logs in every way the security page names
(edit a byte, delete, insert a forgery, swap, truncate) and requires `verify_chain` to
fail and to name exactly the first tampered position, every time."""

from __future__ import annotations

import collections
import json
import random
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from distserver.audit import chain as ch
from distserver.audit import chain_verifier as vf
from distserver.audit import export as ex
from distserver.audit.checkpoints import (
    Checkpoint,
    checkpoint_message,
    generate_private_key_pem,
    key_id,
    load_private_key,
    load_public_key,
    public_key_pem,
    sign_checkpoint,
    verify_checkpoint,
)
from distserver.audit.models import AuditEvent

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key()
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

CHARS = "abcxyzABC019 -_./:@" + '"\\\n\t\x00\x1f\x7f' + "éßøΩж中文字😀🔒\u2028\u202e\u0301ﬁ\ufeff"
TAGS = ["download:link:issued", "download:link:refused", "account:login:succeeded"]
NULLABLE = ["address", "user_agent", "model", "revision", "path", "sha256", "tier"]
NULLABLE += ["reason", "link_id"]


def text(rng: random.Random, most: int = 10) -> str:
    return "".join(rng.choices(CHARS, k=rng.randint(0, most)))


def make_event(rng: random.Random, eid: int) -> dict:
    zone = rng.choice([UTC, timezone(timedelta(hours=rng.randint(-12, 12)))])
    moment = T0 + timedelta(seconds=rng.randint(0, 10**7), microseconds=rng.randint(0, 10**6))
    event = {
        "id": eid,
        "occurred_at": moment.astimezone(zone),
        "tag": rng.choice(TAGS) if rng.random() < 0.7 else text(rng),
        "actor_id": rng.choice([None, rng.randint(1, 10**9)]),
        "actor": rng.choice(["anonymous", "system"]) if rng.random() < 0.5 else text(rng) + "@",
        "data": ch.canonical_json({text(rng, 4): text(rng) if rng.random() < 0.5 else 7}),
    }
    for name in NULLABLE:
        event[name] = None if rng.random() < 0.5 else text(rng, 20)
    return event


def build(rng: random.Random, n: int) -> tuple[list, list[bytes], list[Checkpoint]]:
    """n sealed rows (seq, event, hash hex), the chain hashes, and checkpoints (always one
    at the last seq, plus a few at random seqs)."""
    eid = rng.randint(1, 1000)
    events = []
    for _ in range(n):
        eid += rng.randint(1, 3)
        events.append(make_event(rng, eid))
    rows = [(s.seq, s.event, s.hash) for s in ch.seal(events, start_seq=0, prev_hash=ch.GENESIS)]
    hashes = [bytes.fromhex(h) for _, _, h in rows]
    seqs = sorted({n - 1, *rng.sample(range(n), rng.randint(0, 3))})
    cps = [sign_checkpoint(KEY, s, hashes[s], T0 + timedelta(minutes=s)) for s in seqs]
    return rows, hashes, cps


def verify(rows, cps, **kw) -> vf.VerifyResult:
    return vf.verify_chain(iter(rows), iter(cps), PUB, **kw)


def hash_before(hashes: list[bytes], seq: int) -> bytes:
    return hashes[seq - 1] if seq > 0 else ch.GENESIS


def flip_text(rng: random.Random, value: str) -> str:
    raw = value.encode("utf-8")
    if not raw:
        return rng.choice(CHARS)
    while True:
        i = rng.randrange(len(raw))
        changed = raw[:i] + bytes([raw[i] ^ rng.randint(1, 255)]) + raw[i + 1 :]
        try:
            return changed.decode("utf-8")
        except UnicodeDecodeError:
            continue


def flip_field(rng: random.Random, event: dict) -> dict:
    event = dict(event)
    name = rng.choice(ch.CHAINED_FIELDS)
    value = event[name]
    if name == "occurred_at":
        event[name] = value + timedelta(microseconds=1 << rng.randrange(40))
    elif name in ("id", "actor_id"):
        event[name] = (value or 0) ^ (1 << rng.randrange(40))
    elif value is None:
        event[name] = text(rng, 3)  # null becomes a string ("" included)
    else:
        event[name] = flip_text(rng, value)
    return event


def flip_line(rng: random.Random, line: str) -> bytes:
    raw = bytearray(line.encode("utf-8"))
    raw[rng.randrange(len(raw))] ^= rng.randint(1, 255)
    return bytes(raw)


def tamper(rng: random.Random, rows, hashes, cps):
    """Apply one random tampering. Returns (kind, rows or export lines, first bad seq,
    acceptable reasons)."""
    n = len(rows)
    kind = rng.choice(["edit", "hash", "export", "delete", "insert", "swap", "truncate"])
    k = rng.randrange(n)
    seq, event, h = rows[k]
    out = list(rows)
    if kind == "edit":
        out[k] = (seq, flip_field(rng, event), h)
        return kind, out, k, {"edited", "malformed"}
    if kind == "hash":
        i = rng.randrange(64)
        digit = rng.choice([d for d in "0123456789abcdef" if d != h[i]])
        out[k] = (seq, event, h[:i] + digit + h[i + 1 :])
        return kind, out, k, {"edited"}
    if kind == "export":
        lines = [line.encode("utf-8") for line in ex.export_lines(rows, cps)]
        at = next(i for i, line in enumerate(lines) if line.startswith(b'{"seq":%d,' % k))
        lines[at] = flip_line(rng, lines[at].decode("utf-8"))
        return "export", lines, k, None
    if kind == "delete":
        del out[k]
        if rng.random() < 0.5:
            out[k:] = [(s - 1, e, hh) for s, e, hh in out[k:]]
            kind = "delete+renumber"
            return kind, out, k, {"removed", "truncated", "edited"}
        return kind, out, k, {"removed", "truncated"}
    if kind == "insert":
        forged = make_event(rng, rng.randint(10**6, 10**7))
        fh = ch.link_hash(hash_before(hashes, k), k, ch.canonical_bytes(forged)).hex()
        variant = rng.choice(["renumber", "duplicate-before", "duplicate-after", "bad-hash"])
        if variant == "duplicate-before":
            out.insert(k, (k, forged, fh))
        elif variant == "duplicate-after":
            out.insert(k + 1, (k, forged, fh))
            return f"insert {variant}", out, k + 1, {"inserted"}
        else:
            fh = fh if variant == "renumber" else rng.randbytes(32).hex()
            out[k:] = [(k, forged, fh)] + [(s + 1, e, hh) for s, e, hh in rows[k:]]
        return f"insert {variant}", out, k, {"inserted"}
    if kind == "swap":
        i, j = sorted(rng.sample(range(n), 2))
        if rng.random() < 0.5 and i + 1 < n:
            j = i + 1
        (si, ei, hi), (sj, ej, hj) = rows[i], rows[j]
        variant = rng.choice(["contents", "rows", "rows+seq"])
        if variant == "contents":  # the hashes stay where they were
            out[i], out[j] = (si, ej, hi), (sj, ei, hj)
        elif variant == "rows":  # event and hash move, seq numbers stay in order
            out[i], out[j] = (si, ej, hj), (sj, ei, hi)
        else:  # whole rows change places in the stream
            out[i], out[j] = rows[j], rows[i]
        return f"swap {variant}", out, i, {"swapped"}
    cut = rng.randint(0, cps[-1].seq)
    return kind, rows[:cut], cut, {"truncated"}


def test_chained_fields_are_the_models():
    assert ch.CHAINED_FIELDS == AuditEvent.CHAINED_FIELDS


def test_canonical_bytes_follow_the_documented_encoding():
    event = {
        "id": 42,
        "occurred_at": datetime(2025, 1, 2, 4, 4, 5, 7, tzinfo=timezone(timedelta(hours=1))),
        "tag": "download:link:issued",
        "actor_id": None,
        "actor": 'é"\\\n\x01😀',
        "data": '{"a":1}',
        **dict.fromkeys(NULLABLE),
    }
    expected = (
        '[42,"2025-01-02T03:04:05.000007Z","download:link:issued",null,'
        '"é\\"\\\\\\n\\u0001😀",null,null,null,null,null,null,null,null,null,"{\\"a\\":1}"]'
    ).encode()
    assert ch.canonical_bytes(event) == expected
    assert ch.canonical_bytes({**event, "data": {"a": 1}, "extra": "ignored"}) == expected
    assert (
        ch.link_hash(ch.GENESIS, 7, b"x")
        == __import__("hashlib").sha256(bytes(32) + (7).to_bytes(8, "big") + b"x").digest()
    )
    for name, bad in [
        ("occurred_at", datetime(2025, 1, 1)),  # naive
        ("id", True),
        ("actor_id", 1.0),
        ("tag", None),
        ("actor", "\ud800"),  # lone surrogate
        ("data", 3),
    ]:
        with pytest.raises((ValueError, TypeError)):
            ch.canonical_bytes({**event, name: bad})
    with pytest.raises(ValueError, match="no 'tier' field"):
        ch.canonical_bytes({k: v for k, v in event.items() if k != "tier"})


def test_canonical_bytes_are_injective_on_random_events():
    rng = random.Random(7)
    seen: dict[bytes, tuple] = {}
    for i in range(3000):
        event = make_event(rng, rng.randint(1, 50))
        if rng.random() < 0.5:
            event = flip_field(rng, event)
        raw = ch.canonical_bytes(event)
        key = tuple(ch.chained_value(n, event) for n in ch.CHAINED_FIELDS)
        assert seen.setdefault(raw, key) == key, i
        assert json.loads(raw) == list(key)  # decodable, hence injective


def test_an_untouched_log_of_200_events_verifies():
    rows, hashes, _ = build(random.Random(1), 200)
    cps = [sign_checkpoint(KEY, s, hashes[s], T0) for s in (0, 49, 99, 150, 199)]
    result = verify(rows, cps)
    assert result.ok, result.message
    assert (result.events_checked, result.checkpoints_checked) == (200, 5)
    assert (result.head_seq, result.head_hash) == (199, rows[-1][2])
    assert result.message.startswith("ok: 200 events verified up to seq 199")
    # Sealing on from a head gives the same chain as sealing all at once.
    tail = ch.seal([e for _, e, _ in rows[120:]], start_seq=120, prev_hash=hashes[119])
    assert [s.hash for s in tail] == [h for _, _, h in rows[120:]]
    # Verifying from a trusted head.
    assert verify(rows[120:], cps, start_seq=120, prev_hash=hashes[119]).ok


def test_randomised_tampering_is_caught_and_named():
    rng = random.Random(20250301)
    trials, named, reasons = 1000, 0, collections.Counter()
    misses = []
    started = time.perf_counter()
    for trial in range(trials):
        rows, hashes, cps = build(rng, rng.randint(20, 60))
        kind, tampered, first_bad, allowed = tamper(rng, rows, hashes, cps)
        if kind == "export":
            stream, live = ex.read_export(tampered)
            result = vf.verify_chain(stream, live, PUB)
        else:
            result = verify(tampered, cps)
        reasons[kind.split()[0], result.reason] += 1
        if (
            not result.ok
            and result.first_bad_seq == first_bad
            and (allowed is None or result.reason in allowed)
        ):
            named += 1
        else:
            misses.append((trial, kind, first_bad, result.message))
    elapsed = time.perf_counter() - started
    print(f"\ntamper trials: {trials}, caught and named: {named} ({elapsed:.1f} s)")
    for (kind, reason), count in sorted(reasons.items()):
        print(f"  {kind:16} -> {reason}: {count}")
    assert not misses, misses[:10]
    assert named == trials


def test_the_message_names_the_event():
    rows, _, cps = build(random.Random(2), 50)
    seq, event, h = rows[41]
    rows[41] = (seq, {**event, "id": 42, "path": "other"}, h)
    result = verify(rows, cps)
    assert (result.first_bad_seq, result.first_bad_event_id, result.reason) == (41, 42, "edited")
    assert result.message == "event 42 (seq 41) was edited: its hash does not match its contents"
    assert result.events_checked == 41


def test_a_checkpoint_with_a_bad_signature_fails():
    rows, hashes, _ = build(random.Random(3), 30)
    good = sign_checkpoint(KEY, 10, hashes[10], T0)
    sig = bytearray(__import__("base64").b64decode(good.signature))
    sig[5] ^= 1
    bad = Checkpoint(10, good.head_hash, good.created_at, good.key_id,
                     __import__("base64").b64encode(bytes(sig)).decode())  # fmt: skip
    assert not verify_checkpoint(PUB, bad)
    result = verify(rows, [bad])
    assert (result.ok, result.first_bad_seq, result.reason) == (False, 10, "bad-checkpoint")
    # Signed fields changed under a valid signature: also refused.
    for changed in (
        Checkpoint(11, hashes[11].hex(), good.created_at, good.key_id, good.signature),
        Checkpoint(10, good.head_hash, "2025-03-01T12:00:00.000001Z", good.key_id, good.signature),
    ):
        assert not verify_checkpoint(PUB, changed)
        assert not verify(rows, [changed]).ok
    assert verify(rows, [good]).ok


def test_a_checkpoint_signed_by_another_key_fails():
    rows, hashes, _ = build(random.Random(4), 30)
    foreign = sign_checkpoint(OTHER, 20, hashes[20], T0)
    assert not verify_checkpoint(PUB, foreign)
    result = verify(rows, [foreign])
    assert (result.ok, result.reason, result.first_bad_seq) == (False, "bad-checkpoint", 20)
    assert "not the verifying key" in (result.detail or "")
    # Another key's signature under our key id.
    disguised = Checkpoint(
        20, foreign.head_hash, foreign.created_at, key_id(PUB), foreign.signature
    )
    assert verify(rows, [disguised]).reason == "bad-checkpoint"
    # Beyond the end, a forged checkpoint is a bad checkpoint, not a truncation.
    beyond = sign_checkpoint(OTHER, 40, bytes(32), T0)
    assert verify(rows, [beyond]).reason == "bad-checkpoint"


def test_a_rewritten_chain_is_caught_by_its_checkpoint():
    rng = random.Random(5)
    rows, hashes, _ = build(rng, 60)
    cps = [sign_checkpoint(KEY, s, hashes[s], T0) for s in (19, 39, 59)]
    events = [e for _, e, _ in rows]
    events[25] = {**events[25], "actor": "someone else"}
    forged = [(s.seq, s.event, s.hash) for s in ch.seal(events, start_seq=0, prev_hash=ch.GENESIS)]
    result = verify(forged, cps)
    assert (result.ok, result.reason, result.first_bad_seq) == (False, "rewritten", 20)
    assert result.first_bad_event_id == rows[20][1]["id"]
    assert result.checkpoints_checked == 1
    # Without checkpoints a full re-hash cannot be seen: that is what they are for.
    assert verify(forged, []).ok


def test_truncation_below_a_checkpoint_and_an_empty_log():
    rows, _, cps = build(random.Random(6), 30)
    result = verify(rows[:12], cps)
    assert (result.reason, result.first_bad_seq, result.events_checked) == ("truncated", 12, 12)
    assert result.message.startswith("the log was truncated from seq 12 on")
    assert verify([], cps).first_bad_seq == 0
    assert verify([], []).ok


def test_export_round_trips_and_one_changed_byte_fails():
    rng = random.Random(8)
    rows, _, cps = build(rng, 120)
    lines = list(ex.export_lines(rows, cps))
    assert sum(line.startswith('{"checkpoint":') for line in lines) == len(cps)
    blob = "".join(line + "\n" for line in lines).encode("utf-8")
    stream, live = ex.read_export(blob.splitlines(keepends=True))
    result = vf.verify_chain(stream, live, PUB)
    assert result.ok, result.message
    assert (result.events_checked, result.checkpoints_checked) == (120, len(cps))
    stream, live = ex.read_export(iter(lines))
    assert [r[2] for r in stream] == [h for _, _, h in rows]
    assert live == cps

    for _ in range(400):
        broken = list(lines)
        at = rng.randrange(len(broken))
        broken[at] = flip_line(rng, broken[at])
        stream, live = ex.read_export(broken)
        result = vf.verify_chain(stream, live, PUB)
        assert not result.ok, (at, broken[at])
        if broken[at].startswith(b'{"seq":'):
            seq = json.loads(lines[at])["seq"]
            assert result.first_bad_seq == seq, (result.message, broken[at])


def test_checkpoints_anywhere_in_an_export_within_the_window():
    rows, hashes, cps = build(random.Random(10), 60)
    events = [ex.export_line(*row) for row in rows]
    marks = [ex.export_checkpoint_line(cp) for cp in cps]
    for lines in (marks + events, events + marks, events[:30] + marks + events[30:]):
        stream, live = ex.read_export(lines)
        result = vf.verify_chain(stream, live, PUB)
        assert result.ok, result.message
        assert result.checkpoints_checked == len(cps), result.message
    # Too far behind its event to be checked in one pass: refused, never skipped.
    rows, hashes, _ = build(random.Random(11), vf.HASH_WINDOW + 10)
    late = sign_checkpoint(KEY, 3, hashes[3], T0)
    lines = [*(ex.export_line(*row) for row in rows), ex.export_checkpoint_line(late)]
    stream, live = ex.read_export(lines)
    result = vf.verify_chain(stream, live, PUB)
    assert (result.ok, result.reason, result.first_bad_seq) == (False, "bad-checkpoint", 3)


def test_verification_streams():
    """A one-shot generator of 5,000 events, sealed lazily, verifies in bounded memory
    (holding the rows would take about 3.5 MB)."""
    rng = random.Random(9)
    template = [make_event(rng, i) for i in range(50)]

    def events():
        for i in range(5_000):
            yield {**template[i % 50], "id": i + 1}

    head = None

    def rows():
        nonlocal head
        for s in ch.seal(events(), start_seq=0, prev_hash=ch.GENESIS):
            head = s.hash
            yield s.seq, s.event, s.hash

    tracemalloc.start()
    result = vf.verify_chain(rows(), [], PUB)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.ok
    assert result.events_checked == 5_000
    assert result.head_hash == head
    assert peak < 1_000_000, peak


def test_checkpoint_message_and_keys():
    head = "ab" * 32
    assert checkpoint_message(7, head, "2025-03-01T12:00:00.000000Z") == (
        b"distserver-audit-checkpoint-v1\n7\n" + head.encode() + b"\n2025-03-01T12:00:00.000000Z\n"
    )
    for bad, says in [
        ((-1, head, T0), "seq must be"),
        ((1, head.upper(), T0), "head_hash must be"),
        ((1, head, "2025-03-01 12:00"), "not a canonical UTC timestamp"),
    ]:
        with pytest.raises(ValueError, match=says):
            checkpoint_message(*bad)
    pem = generate_private_key_pem()
    private = load_private_key(pem)
    public = load_public_key(public_key_pem(private))
    cp = sign_checkpoint(private, 3, bytes(32), T0)
    assert cp.created_at == "2025-03-01T12:00:00.000000Z"
    assert cp.key_id == key_id(public)
    assert len(cp.key_id) == 16
    assert verify_checkpoint(public, cp)
    assert not verify_checkpoint(PUB, cp)
    assert Checkpoint.from_dict(cp.to_dict()) == cp
