"""The export formats of the sealed log.

JSONL: one line per event (seq, hash and the chained fields, written as in the canonical
encoding) with each signed checkpoint placed right after the event of its seq, so that an
outsider can verify it in one streaming pass with only the public key (`distserver audit
verify --export FILE --public-key KEY`). CSV (`csv_rows`): for reading in a spreadsheet.

Pure code: rows in, text out. Reading the rows from the database is
distserver.audit.queries (`stream_sealed`, `export_jsonl`, `export_csv`)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from distserver.audit.chain import CHAINED_FIELDS, chained_value, compact_json
from distserver.audit.checkpoints import Checkpoint, format_utc, is_hash_hex, parse_utc
from distserver.spreadsheets import spreadsheet_cell


class MalformedExport(ValueError):
    """A line of an export that is not exactly what `export_line` would have written."""

    def __init__(self, line_number: int, problem: str) -> None:
        super().__init__(f"export line {line_number}: {problem}")
        self.line_number = line_number


__all__ = [
    "MalformedExport",
    "csv_rows",
    "csv_writer",
    "export_checkpoint_line",
    "export_line",
    "export_lines",
    "read_export",
]


def export_line(seq: int, event: Mapping[str, Any], hash_hex: str) -> str:
    """One line (without its newline) of the JSONL export: a JSON object with "seq", "hash",
    then the chained fields in order, values written as in the canonical encoding."""
    if type(seq) is not int or seq < 0 or not is_hash_hex(hash_hex):
        raise ValueError("seq must be a non-negative int and hash 64 lowercase hex digits")
    return compact_json(
        {"seq": seq, "hash": hash_hex} | {n: chained_value(n, event) for n in CHAINED_FIELDS}
    )


def export_checkpoint_line(cp: Checkpoint) -> str:
    """An export line carrying a checkpoint: {"checkpoint": {seq, head_hash, ...}}."""
    return compact_json({"checkpoint": cp.to_dict()})


def export_lines(
    sealed: Iterable[tuple[int, Mapping[str, Any], str]], checkpoints: Iterable[Checkpoint]
) -> Iterator[str]:
    """The export, one line at a time (without newlines): each checkpoint is placed right
    after the event of its seq, so that one streaming pass can check it; checkpoints beyond
    the last event come at the end."""
    pending = sorted(checkpoints, key=lambda cp: cp.seq)
    i = 0
    for seq, event, hash_hex in sealed:
        while i < len(pending) and pending[i].seq < seq:
            yield export_checkpoint_line(pending[i])
            i += 1
        yield export_line(seq, event, hash_hex)
    yield from (export_checkpoint_line(cp) for cp in pending[i:])


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate key")
    return dict(pairs)


def read_export(
    lines: Iterable[str | bytes],
) -> tuple[Iterator[tuple[int, dict[str, Any], str]], list[Checkpoint]]:
    """Read an export in one streaming pass: returns the rows, as a lazy iterator for
    `verify_chain`, and a list that fills with the checkpoints as the rows are read.

    Lines end with "\\n" (or not, for the last); empty lines are skipped. A line that is not
    byte for byte what `export_line` / `export_checkpoint_line` would write raises
    `MalformedExport` from the iterator (`verify_chain` reports it at that position)."""
    checkpoints: list[Checkpoint] = []
    keys = {"seq", "hash", *CHAINED_FIELDS}

    def rows() -> Iterator[tuple[int, dict[str, Any], str]]:
        for number, raw in enumerate(lines, 1):
            try:
                text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
                text = text.removesuffix("\n")
                if not text:
                    continue
                obj = json.loads(text, object_pairs_hook=_no_duplicates)
                if isinstance(obj, dict) and obj.keys() == {"checkpoint"}:
                    cp = Checkpoint.from_dict(obj["checkpoint"])
                    if export_checkpoint_line(cp) != text:
                        raise ValueError("not in canonical form")
                    checkpoints.append(cp)
                    continue
                if not isinstance(obj, dict) or obj.keys() != keys:
                    raise ValueError("not an event line: wrong keys")
                event = {name: obj[name] for name in CHAINED_FIELDS}
                event["occurred_at"] = parse_utc(event["occurred_at"])
                if export_line(obj["seq"], event, obj["hash"]) != text:
                    raise ValueError("not in canonical form")
            except (ValueError, TypeError) as exc:
                raise MalformedExport(number, str(exc)) from None
            except RecursionError:
                # json.loads recurses once per level: a hostile line of nested brackets
                # must be reported as malformed, not end the command in a traceback.
                raise MalformedExport(number, "its JSON is nested too deeply") from None
            yield obj["seq"], event, obj["hash"]

    return rows(), checkpoints


def csv_rows(rows: Iterable[tuple[int, Mapping[str, Any], str]]) -> Iterator[list[Any]]:
    """The audit CSV: a header, then seq, hash and the chained fields of each sealed event
    (times in UTC). Cells go through `spreadsheets.spreadsheet_cell`, so a value an
    anonymous caller chose (user agent, path) cannot run as a formula in a spreadsheet;
    the CSV is for reading, the JSONL export is the one that verifies."""
    yield ["seq", "hash", *CHAINED_FIELDS]
    for seq, event, hash_hex in rows:
        values = [event[name] for name in CHAINED_FIELDS]
        values[1] = format_utc(values[1])
        yield [seq, hash_hex, *(spreadsheet_cell(v) for v in values)]


def csv_writer(out: IO[str]) -> Any:
    """RFC 4180 line ends: with "\r\n" as terminator the csv module also quotes a cell
    that holds a lone carriage return, which a spreadsheet would read as a new row."""
    return csv.writer(out, lineterminator="\r\n")
