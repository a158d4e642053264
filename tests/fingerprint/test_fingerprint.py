"""Fingerprint: marking is streamed and layout-preserving; tracing names the right copy."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from distserver.fingerprint import (
    DEFAULT_THRESHOLD,
    SafetensorsReader,
    mark_file,
    mark_tensor,
    pattern,
    pattern_chunks,
    pattern_slice,
    read_header,
    trace_file,
    verdict,
    write_safetensors,
)

BF16 = ml_dtypes.bfloat16
KEYS = {"k1": b"\x01" * 32, "k2": b"\x02" * 32}
FFN = "encoder.layer.0.intermediate.dense"
OUT = "encoder.layer.0.output.dense.weight"


def _model(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def mat(rows: int, cols: int, std: float, dtype: type) -> np.ndarray:
        scale = std * rng.lognormal(0, 0.3, size=(rows, 1))  # rows of uneven scale
        m = rng.standard_normal((rows, cols)) * scale
        m.flat[rng.choice(m.size, 20, replace=False)] *= 8  # a few outliers
        return m.astype(dtype)

    return {
        "embeddings.position_ids": np.arange(512, dtype=np.int64).reshape(1, 512),
        "embeddings.word_embeddings.weight": mat(3000, 256, 0.05, np.float32),
        "encoder.layer.0.attention.self.query.weight": mat(512, 512, 0.04, BF16),
        "encoder.layer.0.attention.self.query.bias": (rng.standard_normal(512) * 0.02).astype(
            np.float32
        ),
        f"{FFN}.weight": mat(1024, 512, 0.03, np.float16),
        f"{FFN}.bias": (rng.standard_normal(1024) * 0.02).astype(np.float16),
        OUT: mat(512, 1024, 0.02, np.float32),
        "encoder.layer.0.output.LayerNorm.weight": np.ones(512, dtype=np.float32),
        "encoder.layer.1.attention.output.dense.weight": mat(512, 1024, 0.02, BF16),
        "encoder.layer.1.intermediate.dense.weight": mat(1024, 512, 0.03, np.float32),
    }


def _load(path: Path) -> dict[str, np.ndarray]:
    with SafetensorsReader(path) as r:
        return {name: r.tensor(name).copy() for name in r.tensors}


def _save_marked(src: Path, dst: Path, recipient: str, key: bytes, **kw: int) -> None:
    with open(dst, "wb") as f:
        for part in mark_file(src, key, recipient, **kw):
            f.write(part)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fp")
    write_safetensors(d / "orig.safetensors", _model(np.random.default_rng(7)), {"format": "pt"})
    _save_marked(d / "orig.safetensors", d / "alice.safetensors", "alice", KEYS["k1"])
    _save_marked(d / "orig.safetensors", d / "bob.safetensors", "bob", KEYS["k2"], chunk=100_000)
    return {
        "dir": d,
        "orig": d / "orig.safetensors",
        "alice": d / "alice.safetensors",
        "bob": d / "bob.safetensors",
    }


# ---------------------------------------------------------------- pattern and mark_tensor


def test_pattern_is_deterministic_balanced_and_chunkable() -> None:
    k = KEYS["k1"]
    p = pattern(k, "alice", "t", 100_003)
    assert p.dtype == np.int8
    assert set(np.unique(p)) == {-1, 1}
    assert abs(p.mean()) < 0.02
    assert np.array_equal(np.concatenate(list(pattern_chunks(k, "alice", "t", 100_003, 4099))), p)
    assert np.array_equal(pattern_slice(k, "alice", "t", 777, 5000), p[777:5777])
    for other in (
        pattern(k, "bob", "t", 100_003),
        pattern(k, "alice", "u", 100_003),
        pattern(KEYS["k2"], "alice", "t", 100_003),
    ):
        assert abs((other * p.astype(np.int64)).mean()) < 0.02
    with pytest.raises(ValueError, match="must not contain"):
        pattern(k, "a|b", "t", 8)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, BF16])
def test_mark_tensor_changes_every_entry_in_the_pattern_direction(dtype: type) -> None:
    w = (np.random.default_rng(1).standard_normal((300, 200)) * 0.03).astype(dtype)
    w[0, :3] = [0, np.inf, np.nan]
    m = mark_tensor(w, KEYS["k1"], "alice", "t")
    assert m.dtype == w.dtype
    assert m.shape == w.shape
    w32, m32 = w.astype(np.float32).ravel(), m.astype(np.float32).ravel()
    assert m32[0] == 0
    assert m32[1] == np.inf
    assert np.isnan(m32[2])
    ok = np.isfinite(w32) & (w32 != 0)
    s = pattern(KEYS["k1"], "alice", "t", w.size)
    moved = m32[ok] - w32[ok]
    assert np.all(np.sign(moved) == s[ok])  # every entry moved, towards s
    rel = np.abs(moved) / np.abs(w32[ok])
    normal = np.abs(w32[ok]) > 1e-4  # fp16 subnormals move by whole subnormal steps
    if dtype is BF16:  # exactly one ulp: 2^-8 .. 2^-7 relative
        assert rel.min() >= 2.0**-8
        assert rel.max() <= 2.0**-7
    else:
        assert np.all(np.abs(rel[normal] - 0.005) <= 2.0**-11)
    # chunked marking (with offsets) equals whole marking
    parts = [
        mark_tensor(w.ravel()[i : i + 7001], KEYS["k1"], "alice", "t", offset=i)
        for i in range(0, w.size, 7001)
    ]
    assert np.array_equal(np.concatenate(parts).view(np.uint8), m.ravel().view(np.uint8))


def test_tiny_strength_still_moves_bf16_by_one_ulp() -> None:
    w = (np.random.default_rng(2).standard_normal(10_000) * 0.03).astype(BF16)
    m = mark_tensor(w, KEYS["k1"], "alice", "t", strength=0.001)
    steps = m.view(np.uint16).astype(np.int32) - w.view(np.uint16).astype(np.int32)
    assert set(np.unique(np.abs(steps))) == {1}


# ---------------------------------------------------------------- files


def test_marked_files_keep_layout_and_differ(files: dict[str, Path]) -> None:
    orig, alice, bob = (files[k].read_bytes() for k in ("orig", "alice", "bob"))
    assert len(orig) == len(alice) == len(bob)
    assert alice != orig
    assert bob != orig
    assert alice != bob
    with open(files["orig"], "rb") as f:
        header = read_header(f)
    n = header.data_start
    assert alice[:n] == orig[:n] == bob[:n]  # same header bytes, hence same offsets
    for t in header.tensors:
        lo, hi = n + t.begin, n + t.end
        same = alice[lo:hi] == orig[lo:hi]
        assert same != t.markable, t.name  # 2-D floats marked, everything else identical
        assert (bob[lo:hi] == orig[lo:hi]) == same
    # the library's own reader accepts the result
    safetensors = pytest.importorskip("safetensors.numpy")
    loaded = safetensors.load_file(str(files["alice"]))
    assert loaded["embeddings.position_ids"].tolist() == [list(range(512))]


def test_mark_file_streams_a_non_seekable_source_deterministically(files: dict[str, Path]) -> None:
    class Pipe(io.RawIOBase):  # read() only, like a network body
        def __init__(self, data: bytes) -> None:
            self._b = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            return self._b.read(min(n, 65536) if n > 0 else 65536)

    parts = list(mark_file(Pipe(files["orig"].read_bytes()), KEYS["k1"], "alice", chunk=50_000))
    assert len(parts) > 20
    assert max(len(p) for p in parts) <= 200_000
    assert b"".join(parts) == files["alice"].read_bytes()


def test_bad_arguments_are_refused_before_reading() -> None:
    for kwargs in ({"strength": 0.0}, {"strength": 1.5}, {"chunk": 0}, {"recipient": "a|b"}):
        args = {"master_key": KEYS["k1"], "recipient": "alice", **kwargs}
        with pytest.raises(ValueError, match=r"strength must be|must not contain"):
            mark_file(io.BytesIO(b""), **args)


@pytest.mark.parametrize(
    "blob",
    [
        b"\x05\x00",
        struct.pack("<Q", 1 << 40) + b"{}",
        struct.pack("<Q", 4) + b"nope",
        struct.pack("<Q", 60) + b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}    ',
        struct.pack("<Q", 104) + b'{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
        b'"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}',
    ],
)
def test_malformed_headers_are_refused(blob: bytes) -> None:
    with pytest.raises(ValueError, match="safetensors header"):
        list(mark_file(io.BytesIO(blob + bytes(16)), KEYS["k1"], "alice"))


# ---------------------------------------------------------------- tracing


def _per_row_int8(m: np.ndarray) -> np.ndarray:
    m = m.astype(np.float32)
    scale = np.abs(m).max(axis=1, keepdims=True) / 127
    scale[scale == 0] = 1
    return np.round(m / scale).clip(-127, 127) * scale


def _transform(files: dict[str, Path], case: str) -> Path:
    a, b, o = _load(files["alice"]), _load(files["bob"]), _load(files["orig"])
    rng = np.random.default_rng(11)
    floats = {k for k, v in o.items() if v.dtype.kind == "f" or v.dtype == BF16}
    mats = {k for k in floats if o[k].ndim == 2}
    if case == "alice fp16":
        out = {k: v.astype(np.float16) if k in floats else v for k, v in a.items()}
    elif case == "bob int8":
        out = {k: _per_row_int8(v) if k in mats else v for k, v in b.items()}
    elif case == "alice noise 15%":
        out = {
            k: (
                v.astype(np.float32) + rng.normal(0, 0.15 * np.std(v.astype(np.float32)), v.shape)
            ).astype(v.dtype)
            if k in mats
            else v
            for k, v in a.items()
        }
    elif case == "average alice+bob":
        out = {
            k: (a[k].astype(np.float32) + b[k].astype(np.float32)) / 2 if k in floats else a[k]
            for k in a
        }
    elif case in ("alice permuted FFN", "only permuted part"):
        perm = rng.permutation(o[f"{FFN}.weight"].shape[0])
        out = dict(a)
        out[f"{FFN}.weight"], out[f"{FFN}.bias"] = a[f"{FFN}.weight"][perm], a[f"{FFN}.bias"][perm]
        out[OUT] = np.ascontiguousarray(a[OUT][:, perm])
        both = "encoder.layer.1.intermediate.dense.weight"  # and one with both axes permuted
        rows, cols = rng.permutation(1024), rng.permutation(512)
        out[both] = _per_row_int8(a[both][rows][:, cols])
        if case == "only permuted part":  # the mark must come from the realigned tensors
            out = {
                k: v for k, v in out.items() if k not in mats or k in (f"{FFN}.weight", OUT, both)
            }
    elif case == "only rescaled part":  # function-preserving rescalings, then quantised
        q = "encoder.layer.0.attention.self.query.weight"
        flip = rng.uniform(0.5, 2, (512, 1)) * rng.choice([-1, 1], (512, 1))
        cols = rng.lognormal(0, 0.5, (1, 1024))  # AWQ / SmoothQuant-like input scaling
        out = {
            q: (a[q].astype(np.float32) * flip).astype(np.float16),
            OUT: _per_row_int8(a[OUT] * cols),
        }
    elif case == "unmarked + noise":
        out = {
            k: (
                v.astype(np.float32) + rng.normal(0, 0.05 * np.std(v.astype(np.float32)), v.shape)
            ).astype(np.float16)
            if k in mats
            else v
            for k, v in o.items()
        }
    else:
        raise AssertionError(case)
    path = files["dir"] / f"{case.replace(' ', '_').replace('%', '')}.safetensors"
    write_safetensors(path, out)
    return path


CASES = [
    ("alice", {"alice"}),
    ("bob", {"bob"}),
    ("alice fp16", {"alice"}),
    ("bob int8", {"bob"}),
    ("alice noise 15%", {"alice"}),
    ("average alice+bob", {"alice", "bob"}),
    ("alice permuted FFN", {"alice"}),
    ("only permuted part", {"alice"}),
    ("only rescaled part", {"alice"}),
    ("unmarked + noise", set()),
    ("original", set()),
]
CANDIDATES = [("alice", "k1"), ("bob", "k2"), ("alice", "k2"), ("bob", "k1")] + [
    (f"decoy-{i}", f"k{1 + i % 2}") for i in range(46)
]


@pytest.mark.parametrize(("case", "expected"), CASES, ids=[c for c, _ in CASES])
def test_trace_names_the_right_recipients(
    files: dict[str, Path], case: str, expected: set[str]
) -> None:
    suspect = files.get(case) or (files["orig"] if case == "original" else _transform(files, case))
    result = trace_file(suspect, files["orig"], CANDIDATES, KEYS)
    named = verdict(result.scores, DEFAULT_THRESHOLD)
    right = {(r, k) for r, k in CANDIDATES[:2] if r in expected}
    z = {(s.recipient, s.key_id): s for s in result.scores}
    decoys = [s.z for s in result.scores if (s.recipient, s.key_id) not in right]
    print(
        f"\n[fingerprint] {case:20s} "
        + " ".join(
            f"{r}:z={z[(r, k)].z:.1f},frac={z[(r, k)].fraction:.2f}" for r, k in sorted(right)
        )
        + f" max-wrong={max(decoys):.2f} realigned={result.realigned}"
    )
    assert {(s.recipient, s.key_id) for s in named} == right
    assert max(decoys) < DEFAULT_THRESHOLD
    assert result.rescaled == ([OUT] if case == "only rescaled part" else [])
    if case.startswith("only"):
        assert result.tensors_scored == 6 - len(result.skipped) < 6
    else:
        assert result.tensors_scored == 6
        assert not result.skipped
    if "permuted" in case:
        assert result.realigned == {
            f"{FFN}.weight": "rows",
            OUT: "columns",
            "encoder.layer.1.intermediate.dense.weight": "rows+columns",
        }
    if right and case not in ("average alice+bob",):
        assert min(z[c].z for c in right) > 30


def test_wrong_candidates_look_standard_normal(files: dict[str, Path]) -> None:
    wrong = [(f"nobody-{i}", "k1") for i in range(300)]
    result = trace_file(files["alice"], files["orig"], [("alice", "k1"), *wrong], KEYS)
    d = np.array([s.z for s in result.scores if s.recipient != "alice"])
    print(f"\n[fingerprint] 300 wrong candidates: mean={d.mean():.3f} std={d.std():.3f} "
          f"max={d.max():.2f}")  # fmt: skip
    assert abs(d.mean()) < 0.25
    assert 0.8 < d.std() < 1.2
    assert d.max() < DEFAULT_THRESHOLD


def test_verdict_and_missing_keys(files: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="no key"):
        trace_file(files["alice"], files["orig"], [("alice", "k9")], KEYS)
    scores = trace_file(files["alice"], files["orig"], CANDIDATES[:3], KEYS).scores
    assert [s.recipient for s in verdict(scores)] == ["alice"]
    assert verdict(scores, threshold=1e9) == []
    quick = trace_file(
        files["alice"], files["orig"], CANDIDATES, KEYS, chunk=20_000, max_entries=40_000
    )
    assert quick.entries_scored <= 6 * (40_000 + 20_000)
    assert [s.recipient for s in verdict(quick.scores)] == ["alice"]
    print(f"\n[fingerprint] sampled {quick.entries_scored} entries: z={quick.scores[0].z:.1f}")
    assert json.dumps([s.z for s in scores])  # plain floats


def test_sharded_renamed_transposed_suspect(files: dict[str, Path]) -> None:
    a = _load(files["alice"])
    a[OUT] = np.ascontiguousarray(a[OUT].T)  # stored the other way round, as Conv1D does
    names = sorted(a)
    shards = files["dir"] / "shards"
    shards.mkdir()
    write_safetensors(shards / "model-1.safetensors", {f"bert.{k}": a[k] for k in names[:5]})
    write_safetensors(shards / "model-2.safetensors", {f"bert.{k}": a[k] for k in names[5:]})
    result = trace_file(
        shards, files["orig"], [("alice", 1), ("bob", 2)], {1: KEYS["k1"], 2: KEYS["k2"]}
    )
    assert result.tensors_scored == 6
    assert not result.skipped
    assert [(s.recipient, s.key_id) for s in verdict(result.scores)] == [("alice", 1)]
