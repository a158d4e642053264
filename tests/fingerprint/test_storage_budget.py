"""The storage budget: a tier that marks only some tensors (fingerprint_tensors) copies
only the shards holding them; the others are served as published. The stored bytes are
counted, shown per recipient and in total (API, staff page, CLI), and `distserver
trace` still names the right recipients after int8 quantization and after averaging
two partners' copies, with no one else above 6."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from distserver.cli import main
from distserver.extensions import db
from distserver.fingerprint import SafetensorsReader, write_safetensors
from distserver.fingerprint.models import CopyTask, FingerprintCopy
from distserver.fingerprint.trace import DEFAULT_THRESHOLD
from distserver.jobs import drain
from tests.accounts.helpers import PASSWORD, sign_in
from tests.fingerprint.shards import sharded_release
from tests.fingerprint.test_sharded_releases import MODEL, fetch, publish_folder
from tests.fingerprint.test_trace_cli import int8_roundtrip
from tests.support.tiers import tiers_with
from tests.support.world import World, sha256

# Two shards of four hold these (layers 0 and 4: shards 1 and 3).
PATTERNS = ["model.layers.0.mlp.*", "model.layers.4.mlp.*"]
MARKED = {"model-00001-of-00004.safetensors", "model-00003-of-00004.safetensors"}


def transformed(folder: Path, out: Path, fn: Any) -> Path:
    """Every shard of ``folder`` with ``fn(name, matrix) -> matrix`` applied to its 2-D
    float tensors (as a leak would quantize or merge them), written to ``out``."""
    out.mkdir()
    for shard in sorted(folder.glob("*.safetensors")):
        with SafetensorsReader(shard) as r:
            tensors = {name: r.tensor(name).copy() for name in r.tensors}
        for name, a in tensors.items():
            if a.ndim == 2:
                tensors[name] = fn(name, a.astype(np.float32), shard.name)
        write_safetensors(out / shard.name, tensors)
    return out


def trace(app: Any, folder: Path) -> dict[str, float]:
    result = app.test_cli_runner().invoke(main, ["trace", str(folder), "--model", MODEL])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line[:4].strip().isdigit()]
    return {row[5].split("@")[0]: float(row[1]) for row in rows}


def test_only_shards_with_marked_tensors_are_copied_and_traced(
    make_app: Any, tmp_path: Path
) -> None:
    tiers = tiers_with(tmp_path, {"vetted_partner": {"fingerprint_tensors": PATTERNS}})
    app = make_app("sqlite", TIERS_DIR=str(tiers))
    with app.app_context():
        world = World(app, tmp_path / "src")
        folder = tmp_path / "release"
        sizes = sharded_release(folder, [16, 16, 16, 16], seed=5)
        publish_folder(world, folder)
        names = ("alice", "bob", "carol")
        people = {n: world.person(f"{n}@example.org", tiers=("vetted_partner",)) for n in names}
        staff = world.person("safety@example.org", roles=("safety",), password=PASSWORD)
        drain(app)

        # Only the marked shards were copied: count the bytes stored under copies/.
        db.session.expire_all()
        rows = db.session.scalars(db.select(FingerprintCopy)).all()
        assert sorted({r.path for r in rows}) == sorted(MARKED)
        expected = len(names) * sum(sizes[s] for s in MARKED)
        stored = Path(app.instance_path) / "blobs" / "copies"
        on_disk = sum(p.stat().st_size for p in stored.rglob("*") if p.is_file())
        assert sum(r.size for r in rows) == on_disk == expected
        full = len(names) * sum(sizes.values())
        print(f"\ncopies store {on_disk / 2**20:.0f} MB instead of {full / 2**20:.0f} MB")
        states = {(t.path, t.state) for t in db.session.scalars(db.select(CopyTask))}
        assert states == {(s, "done" if s in MARKED else "unmarked") for s in sizes}

        client = app.test_client()
        got: dict[str, Path] = {}
        for name, who in people.items():
            got[name] = tmp_path / name
            got[name].mkdir()
            for shard in sizes:
                body, data = fetch(client, who.auth, shard)
                published = (folder / shard).read_bytes()
                assert (data == published) == (shard not in MARKED), shard
                assert body["size"] == sizes[shard] == len(data)
                (got[name] / shard).write_bytes(data)

        # Storage per recipient and in total: API, CLI, staff page.
        report = client.get(f"/api/v1/models/{MODEL}/copies", headers=staff.auth)
        assert report.status_code == 200, report.json
        assert report.json["total_copy_bytes"] == expected
        assert report.json["pending"] == []
        per = {r["user"]: r for r in report.json["recipients"]}
        assert {u: (r["copies"], r["copy_bytes"]) for u, r in per.items()} == {
            f"{n}@example.org": (2, expected // len(names)) for n in names
        }
        partner = client.get(f"/api/v1/models/{MODEL}/copies", headers=people["alice"].auth)
        assert partner.status_code == 403
        cli = app.test_cli_runner().invoke(main, ["fingerprints", "copies", "--model", MODEL])
        assert cli.exit_code == 0, cli.output
        assert f"total\t6\t{expected}\t0\t0" in cli.output.splitlines()
        web = app.test_client()
        assert sign_in(web, staff.user.email, totp_secret=staff.totp_secret).status_code == 302
        page = web.get(f"/staff/models/{MODEL}/release").get_data(as_text=True)
        assert 'id="copies"' in page
        assert f'data-bytes="{expected}"' in page

        # Tracing reads the marked tensors only, and still names the right people.
        def int8(name: str, w: np.ndarray, _: str) -> np.ndarray:
            return int8_roundtrip(name, w)

        sus_int8 = transformed(got["alice"], tmp_path / "int8", int8)

        def average(_: str, w: np.ndarray, shard: str) -> np.ndarray:
            with SafetensorsReader(got["bob"] / shard) as r:
                other = r.tensor(_).astype(np.float32)
            return (w + other) / 2

        sus_avg = transformed(got["alice"], tmp_path / "avg", average)
        cases = (("int8", sus_int8, {"alice"}), ("avg", sus_avg, {"alice", "bob"}))
        for label, suspect, named in cases:
            zs = trace(app, suspect)
            print(f"{label}: {', '.join(f'{k} z={v:.1f}' for k, v in zs.items())}")
            assert {k for k, z in zs.items() if z >= DEFAULT_THRESHOLD} == named, zs
            assert all(z < 6 for k, z in zs.items() if k not in named), zs
        assert sha256((got["alice"] / "model-00002-of-00004.safetensors").read_bytes()) == sha256(
            (folder / "model-00002-of-00004.safetensors").read_bytes()
        )
