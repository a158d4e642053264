"""`distserver trace` on copies partners downloaded through the native API: it names the
right recipient, and no one else passes the threshold, for each copy, the copy cast to
fp16, int8 quantize-dequantize, added noise and the average of two copies (both named);
for an unmarked file and a file marked for no one it says plainly that no one matches.
Each trace is an audit event."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from flask import Flask

from distserver.cli import main
from distserver.fingerprint import SafetensorsReader, mark_file, write_safetensors
from distserver.fingerprint.keys import load_keys
from distserver.jobs import drain
from tests.fingerprint.test_integration import MODEL, WEIGHTS, download, publish_model
from tests.support.world import World

Tensors = dict[str, np.ndarray]


def load(path: Path) -> Tensors:
    with SafetensorsReader(path) as r:
        return {name: r.tensor(name).copy() for name in r.tensors}


def floats(t: Tensors, fn: Callable[[str, np.ndarray], np.ndarray]) -> Tensors:
    """Apply ``fn`` to every 2-D float matrix (as float32), leave the rest alone."""
    out = {}
    for name, a in t.items():
        is_float = a.dtype.kind == "f" or a.dtype.name == "bfloat16"
        out[name] = fn(name, a.astype(np.float32)) if is_float and a.ndim == 2 else a
    return out


def int8_roundtrip(_: str, w: np.ndarray) -> np.ndarray:
    scale = np.abs(w).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return (np.clip(np.round(w / scale), -127, 127) * scale).astype(np.float32)


def test_trace_names_the_recipient_of_each_suspect(
    app: Flask, client, world: World, tmp_path: Path
) -> None:
    original = publish_model(world, tmp_path)
    people = {
        name: world.person(f"{name}@example.org", tiers=("vetted_partner",))
        for name in ("alice", "bob", "carol")
    }
    drain(app)  # the copies the grants queued
    files = {}
    for name, who in people.items():
        _, data = download(client, who.auth, WEIGHTS)
        files[name] = tmp_path / f"{name}.safetensors"
        files[name].write_bytes(data)
    alice, bob = load(files["alice"]), load(files["bob"])
    rng = np.random.default_rng(5)

    def suspect(name: str, t: Tensors) -> Path:
        path = tmp_path / "suspects" / name
        path.mkdir(parents=True)
        write_safetensors(path / "model.safetensors", t)
        (path / "config.json").write_text("{}")
        return path

    def noisy(_: str, w: np.ndarray) -> np.ndarray:
        return (w + rng.standard_normal(w.shape) * 0.2 * w.std()).astype(np.float32)

    outsider = tmp_path / "outsider.safetensors"
    ring = load_keys(world.rt.settings)
    with outsider.open("wb") as out:
        for part in mark_file(tmp_path / "orig.safetensors", ring.active, "user-9999"):
            out.write(part)
    assert outsider.read_bytes() != original

    cases: list[tuple[str, Path, set[str]]] = [
        ("alice's copy", files["alice"], {"alice"}),
        ("bob's copy", files["bob"], {"bob"}),
        ("carol's copy", files["carol"], {"carol"}),
        ("fp16 cast", suspect("fp16", floats(alice, lambda _, w: w.astype(np.float16))), {"alice"}),
        ("int8", suspect("int8", floats(bob, int8_roundtrip)), {"bob"}),
        ("noise at 20% of std", suspect("noise", floats(alice, noisy)), {"alice"}),
        ("average of two", suspect("avg", {k: (alice[k].astype(np.float32) + bob[k].astype(
            np.float32)) / 2 if alice[k].dtype.kind != "i" else alice[k] for k in alice}),
         {"alice", "bob"}),
        ("unmarked original", tmp_path / "orig.safetensors", set()),
        ("marked for no one", outsider, set()),
    ]  # fmt: skip
    cli = app.test_cli_runner()
    report = []
    for label, path, expected in cases:
        result = cli.invoke(main, ["trace", str(path), "--model", MODEL])
        assert result.exit_code == 0, (label, result.output)
        lines = result.output.splitlines()
        named = {
            line.removeprefix("MATCH: ").split("@")[0]
            for line in lines
            if line.startswith("MATCH: ")
        }
        assert named == expected, (label, result.output)
        rows = [line.split() for line in lines if line[:4].strip().isdigit()]
        zs = {row[5].split("@")[0]: float(row[1]) for row in rows}
        assert len(zs) == 3, result.output
        for who, z in zs.items():
            assert (z >= 6.0) == (who in expected), (label, who, z)
        if not expected:
            assert any(line.startswith("No recipient matches:") for line in lines), result.output
        report.append((label, {k: round(v, 1) for k, v in zs.items()}))
    print("\n".join(f"{label}: {zs}" for label, zs in report))

    events = world.events("fingerprint:trace:run")
    assert len(events) == len(cases)
    assert all(e.model == MODEL for e in events)
    first, last = json.loads(events[0].data), json.loads(events[-1].data)
    assert first["candidates"] == 3
    assert [m["recipients"] for m in first["matches"]] == [["alice@example.org"]]
    assert last["matches"] == []
    assert last["top_z"] < 6


def test_trace_says_so_when_no_one_received_a_copy(
    app: Flask, world: World, tmp_path: Path
) -> None:
    publish_model(world, tmp_path)
    result = app.test_cli_runner().invoke(
        main, ["trace", str(tmp_path / "orig.safetensors"), "--model", MODEL]
    )
    assert result.exit_code == 0, result.output
    assert "No recipient matches: no one has received a marked copy of acme/fp" in result.output
    bad = tmp_path / "not-weights.safetensors"
    bad.write_bytes(b"not a safetensors file")
    refused = app.test_cli_runner().invoke(main, ["trace", str(bad), "--model", "acme/nope"])
    assert refused.exit_code == 1
