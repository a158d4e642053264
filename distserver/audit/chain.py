"""The tamper-evident audit chain: canonical bytes and hash links. Streaming
verification is in distserver.audit.verification, the export format in
distserver.audit.export.

Pure code: no database, no Flask. The sealing job feeds events in id order to `seal`
and stores each event's canonical bytes with its seal; `audit verify` feeds the sealed
rows in seq order (from the database or from an export) to `verification.verify_chain`,
which holds only a few rows in memory, or on PostgreSQL first hashes the stored bytes
(`distserver.audit.fast_verify`).

Canonical encoding of an event (format v1), `canonical_bytes`:
  The UTF-8 bytes of a JSON array of the 15 values of `CHAINED_FIELDS`, in that order,
  as written by Python's `json.dumps(values, ensure_ascii=False, separators=(",", ":"))`:
  no whitespace; strings escape only `"` `\\` and U+0000..U+001F (as \\b \\f \\n \\r \\t,
  others as \\u00xx, lowercase hex), every other character is raw UTF-8 (lone surrogates
  are refused); integers in plain decimal; None as `null`.
  Per field: `id` int; `occurred_at` a timezone-aware datetime, written as the string
  `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC (always 6 digits of microseconds); `actor_id` int
  or null; `tag`, `actor` strings; `address` .. `link_id` string or null; `data` the stored
  JSON text as a string, verbatim (a dict or list given instead is first written with
  `canonical_json`: sorted keys, same separators). bool and float are refused everywhere.
  Each value has one type per position and JSON is decodable, so the encoding is injective.

Chain: h(seq) = SHA-256(h(seq - 1) || seq as 8-byte big-endian || canonical_bytes(event)),
with h(start - 1) = GENESIS (32 zero bytes) for a log that starts at `start` (0 by default).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from distserver.audit.checkpoints import (
    format_utc,
)

# Copied from AuditEvent.CHAINED_FIELDS (a test keeps them equal): the chain format
# must not change silently when the table grows a column.
CHAINED_FIELDS: tuple[str, ...] = (
    "id", "occurred_at", "tag", "actor_id", "actor", "address", "user_agent", "model",
    "revision", "path", "sha256", "tier", "reason", "link_id", "data",
)  # fmt: skip
_NULLABLE = frozenset(CHAINED_FIELDS[3:14]) - {"actor"}
GENESIS = bytes(32)


def canonical_json(value: Any) -> str:
    """JSON text with sorted keys and no whitespace: the form `AuditEvent.data` is stored in."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    )


def chained_value(name: str, event: Mapping[str, Any]) -> Any:
    """The event's field `name` as the chain hashes it (ValueError when it is missing)."""
    try:
        value = event[name]
    except KeyError:
        raise ValueError(f"the event has no {name!r} field") from None
    if value is None and name in _NULLABLE:
        return None
    if name in ("id", "actor_id"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        return int(value)
    if name == "occurred_at":
        return format_utc(value)
    if name == "data" and isinstance(value, Mapping | list):
        return canonical_json(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    return value


def compact_json(value: Any) -> str:
    """JSON text with no whitespace, keys in the order given: the hashed and exported form."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """The bytes the chain hashes for one event; see the module docstring for the format.
    Extra keys in `event` are ignored; a missing field or a wrongly typed value raises."""
    return compact_json([chained_value(name, event) for name in CHAINED_FIELDS]).encode("utf-8")


def event_fields(row: Any) -> dict[str, Any]:
    """The chained fields of an object with those attributes (e.g. an AuditEvent row)."""
    return {name: getattr(row, name) for name in CHAINED_FIELDS}


def link_hash(prev_hash: bytes, seq: int, event_bytes: bytes) -> bytes:
    """SHA-256(prev_hash || seq as 8-byte big-endian || event_bytes)."""
    if len(prev_hash) != 32:
        raise ValueError("prev_hash must be 32 bytes")
    return hashlib.sha256(prev_hash + seq.to_bytes(8, "big") + event_bytes).digest()


@dataclass(frozen=True)
class SealedEvent:
    seq: int
    event: Mapping[str, Any]
    hash: str  # 64 lowercase hex
    canonical: bytes = b""  # canonical_bytes(event): what was hashed


def seal(
    events: Iterable[Mapping[str, Any]], *, start_seq: int, prev_hash: bytes
) -> Iterator[SealedEvent]:
    """Chain `events` on to a head: the first gets `start_seq` and links to `prev_hash`."""
    seq, head = start_seq, prev_hash
    for event in events:
        data = canonical_bytes(event)
        head = link_hash(head, seq, data)
        yield SealedEvent(seq, event, head.hex(), data)
        seq += 1
