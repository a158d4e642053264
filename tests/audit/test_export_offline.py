"""Offline verification of a JSONL export (`distserver audit verify --export F --public-key
K`), as an outsider runs it: no settings, no database, only the file and the public key.

An export proves only what a signed checkpoint covers: events after the last checkpoint
that verifies could have been made up by anyone who read the chain formula."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from distserver.audit import chain as ch
from distserver.audit import export as ex
from distserver.audit.chain_verifier import verify_export
from distserver.audit.checkpoints import public_key_pem, sign_checkpoint
from distserver.cli import main
from tests.audit.helpers import PROJECT

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
N = 40


def _event(i: int) -> dict:
    issued = i % 2 == 0
    return {
        "id": i + 1,
        "occurred_at": T0 + timedelta(seconds=i),
        "tag": "download:link:issued" if issued else "download:link:refused",
        "actor_id": 7,
        "actor": "researcher@example.org",
        "address": "10.0.0.7",
        "user_agent": "huggingface_hub/0.26",
        "model": "acme/llm",
        "revision": "a" * 40,
        "path": "model.safetensors",
        "sha256": "b" * 64,
        "tier": "researcher",
        "reason": None if issued else "no_grant",
        "link_id": f"{i:032x}" if issued else None,
        "data": "{}",
    }


def _export(events: list[dict], checkpoint_every: int = 10) -> list[str]:
    """Seal `events` as the server does (a signed checkpoint after every batch, one at the
    end) and return the export's lines."""
    sealed = [(s.seq, s.event, s.hash) for s in ch.seal(events, start_seq=0, prev_hash=ch.GENESIS)]
    seqs = sorted({*range(checkpoint_every - 1, len(sealed), checkpoint_every), len(sealed) - 1})
    cps = [sign_checkpoint(KEY, s, sealed[s][2], T0 + timedelta(hours=1)) for s in seqs]
    return list(ex.export_lines(sealed, cps))


def _forge(events: list[dict]) -> list[str]:
    """What the issue describes: recompute the chain with the documented formula and drop
    every checkpoint line (the forger has no signing key)."""
    sealed = ch.seal(events, start_seq=0, prev_hash=ch.GENESIS)
    return [ex.export_line(s.seq, s.event, s.hash) for s in sealed]


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _public_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit-public-key.pem"
    path.write_bytes(public_key_pem(KEY))
    return path


def _verify_cli(export: Path, public: Path):  # type: ignore[no-untyped-def]
    args = ["audit", "verify", "--export", str(export), "--public-key", str(public)]
    return CliRunner().invoke(main, args, env={"DISTSERVER_ENV": None})


def test_a_genuine_export_verifies_offline(tmp_path: Path) -> None:
    export = _write(tmp_path, "audit.jsonl", _export([_event(i) for i in range(N)]))
    run = _verify_cli(export, _public_key_file(tmp_path))
    assert run.exit_code == 0, run.stderr
    assert run.stdout.startswith(f"ok: {N} events verified up to seq {N - 1}")


def test_forged_export_with_recomputed_chain_and_dropped_checkpoints_is_refused(
    tmp_path: Path,
) -> None:
    events = [_event(i) for i in range(N)]
    victim = next(i for i, e in enumerate(events) if e["tag"] == "download:link:issued" and i > 5)
    events[victim] = {**events[victim], "actor": "someone-else@example.org"}
    forged = _write(tmp_path, "forged.jsonl", _forge(events))

    run = _verify_cli(forged, _public_key_file(tmp_path))
    assert run.exit_code == 1, run.output
    assert not run.stdout.startswith("ok"), run.stdout
    assert "unsigned tail" in run.stderr, run.stderr
    assert f"seq 0 to seq {N - 1}" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1

    result = verify_export(forged.read_text().splitlines(), KEY.public_key())
    assert (result.ok, result.reason, result.first_bad_seq) == (False, "unsigned", 0)


def test_export_cut_in_half_with_checkpoints_dropped_is_refused(tmp_path: Path) -> None:
    lines = _export([_event(i) for i in range(N)])
    events_only = [line for line in lines if not line.startswith('{"checkpoint"')]
    half = _write(tmp_path, "half.jsonl", events_only[: N // 2])

    run = _verify_cli(half, _public_key_file(tmp_path))
    assert run.exit_code == 1, run.output
    assert f"seq 0 to seq {N // 2 - 1}" in run.stderr, run.stderr


def test_export_with_events_after_its_last_checkpoint_names_the_unsigned_tail(
    tmp_path: Path,
) -> None:
    """Cut after seq 24 keeping the checkpoints at 9 and 19: seqs 20..24 are unsigned."""
    lines = _export([_event(i) for i in range(N)])
    cut = next(i for i, line in enumerate(lines) if line.startswith('{"seq":25,'))
    kept = [line for line in lines[:cut] if '"seq":29' not in line]
    tail = _write(tmp_path, "tail.jsonl", kept)

    run = _verify_cli(tail, _public_key_file(tmp_path))
    assert run.exit_code == 1, run.output
    assert "unsigned tail" in run.stderr, run.stderr
    assert "seq 20 to seq 24" in run.stderr, run.stderr
    result = verify_export(kept, KEY.public_key())
    assert (result.reason, result.first_bad_seq, result.checkpoints_checked) == ("unsigned", 20, 2)


def test_an_empty_export_proves_nothing_and_is_refused(tmp_path: Path) -> None:
    empty = _write(tmp_path, "empty.jsonl", [])
    run = _verify_cli(empty, _public_key_file(tmp_path))
    assert run.exit_code == 1, run.output
    assert "no signed checkpoint" in run.stderr, run.stderr


def test_deeply_nested_export_line_is_one_line_error_not_a_traceback(tmp_path: Path) -> None:
    lines = _export([_event(i) for i in range(12)])
    lines.insert(3, "[" * 200_000 + "]" * 200_000)
    nested = _write(tmp_path, "nested.jsonl", lines)
    public = _public_key_file(tmp_path)
    args = ["audit", "verify", "--export", str(nested), "--public-key", str(public)]
    # A separate process, as an outsider runs it: no settings, no database.
    run = subprocess.run(
        [sys.executable, "-m", "distserver", *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": PROJECT},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "RecursionError" not in run.stderr, run.stderr[-2000:]
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr[-2000:]
    assert "export line 4" in run.stderr, run.stderr
    assert "nested" in run.stderr, run.stderr
