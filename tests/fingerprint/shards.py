"""Large synthetic safetensors files for the tests of real model sizes, written to disk
block by block (never the whole file in memory), and sharded releases with their
`model.safetensors.index.json`."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

COLUMNS = 4096  # entries per row of every generated matrix
ROWS_PER_BLOCK = 2048  # rows generated and written at a time (32 MB of F32)


def big_safetensors(path: Path, matrices: Sequence[tuple[str, int]], seed: int = 0) -> int:
    """Write F32 matrices (name, rows) of COLUMNS columns, plus a 1-D norm per matrix;
    returns the file size. Values are Gaussian with a per-row scale, as weights are."""
    rng = np.random.default_rng(seed)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    pos = 0
    for name, rows in matrices:
        size = rows * COLUMNS * 4
        header[name] = {"dtype": "F32", "shape": [rows, COLUMNS], "data_offsets": [pos, pos + size]}
        pos += size
        norm = name.rsplit(".", 1)[0] + ".norm"
        header[norm] = {
            "dtype": "F32",
            "shape": [COLUMNS],
            "data_offsets": [pos, pos + COLUMNS * 4],
        }
        pos += COLUMNS * 4
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text)
        for _, rows in matrices:
            for start in range(0, rows, ROWS_PER_BLOCK):
                count = min(ROWS_PER_BLOCK, rows - start)
                block = rng.standard_normal((count, COLUMNS), dtype=np.float32)
                block *= np.float32(0.02) * rng.lognormal(0, 0.3, (count, 1)).astype(np.float32)
                out.write(block.tobytes())
            out.write(np.ones(COLUMNS, dtype=np.float32).tobytes())
    return path.stat().st_size


def rows_for(megabytes: float) -> int:
    """Rows of COLUMNS F32 entries that make about this many megabytes."""
    return max(1, int(megabytes * 1024 * 1024 / (COLUMNS * 4)))


def sharded_release(
    folder: Path, shard_megabytes: Sequence[float], layers_per_shard: int = 2, seed: int = 0
) -> dict[str, int]:
    """A release folder: model-0000i-of-0000n.safetensors shards (each of about the
    given size, in `layers_per_shard` matrices), the index naming every tensor's shard,
    and a config. Returns shard name -> size."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(shard_megabytes)
    weight_map: dict[str, str] = {}
    sizes: dict[str, int] = {}
    layer = 0
    for i, megabytes in enumerate(shard_megabytes, start=1):
        name = f"model-{i:05d}-of-{n:05d}.safetensors"
        matrices = []
        for _ in range(layers_per_shard):
            matrices.append(
                (f"model.layers.{layer}.mlp.up_proj.weight", rows_for(megabytes / layers_per_shard))
            )
            layer += 1
        sizes[name] = big_safetensors(folder / name, matrices, seed=seed + i)
        for tensor, _ in matrices:
            weight_map[tensor] = name
            weight_map[tensor.rsplit(".", 1)[0] + ".norm"] = name
    index = {"metadata": {"total_size": sum(sizes.values())}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    (folder / "config.json").write_text('{"architectures": ["Synthetic"], "hidden_size": 4096}\n')
    return sizes
