"""Name whose copy a leaked model is: score a suspect file against candidate recipients.

Statistic (needs the original weights ``w``, never the mark's strength). For every 2-D
float tensor of the original present in the suspect (cast up to float32; realigned if its
rows, columns or both were permuted; its columns and then each row rescaled by the
least-squares factor onto the original, which undoes function-preserving rescalings and
sign flips), residual ``r = x - w``. Each row ``j`` gets a weight
``alpha_j = sum_j(w^2) / sum_j(r^2 w^2)`` (0 if the denominator is 0), the matched
filter for a relative mark buried in that row's noise; then ``a_i = alpha_j r_i |w_i|``
and, for a candidate with sign pattern ``s`` (see ``mark.py``)::

    z = sum_i a_i s_i / sqrt(sum_i a_i^2)        over all entries of all tensors

``a`` depends only on the suspect and the original, not on any key, so for a
candidate whose mark is absent ``s`` is independent of ``a`` and ``z`` is a Rademacher
sum: mean 0, variance exactly 1, approximately N(0, 1), and by Hoeffding
``P(z >= t) <= exp(-t^2 / 2)`` whatever the weights (``DEFAULT_THRESHOLD`` 6.0 gives
at most 1.5e-8 false accusations per candidate). A clean copy scores in the hundreds
or thousands; a mix of k copies gives each of them about 1/k of the mark. ``fraction``
estimates the share of the candidate's mark present (about 1 for a clean copy).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from .mark import DEFAULT_CHUNK, DEFAULT_STRENGTH, sign_bits, tensor_key
from .safetensors_stream import FLOAT_DTYPES, SafetensorsReader, TensorInfo

DEFAULT_THRESHOLD = 6.0
# What names a master key: the keyring's id (a str), or any hashable a caller uses.
KeyId = TypeVar("KeyId", bound=Hashable)
REALIGN_LIMIT = 1 << 26  # entries: larger tensors are never loaded whole
_ALIGNED_COS = 0.5  # median row cosine above which a tensor counts as in place
_RESCALED = 0.02  # median |column factor - 1| above which columns count as rescaled
_RESCALED_ROW = 0.05
_MIN_ROWS_FOR_COLUMNS = 256  # fewer rows estimate column factors too noisily
_MATCH_COLUMNS = 512
_SUB = 1 << 18
_SUSPECT_DTYPES = (*FLOAT_DTYPES, "F64")


@dataclass(frozen=True)
class Score:
    recipient: str
    key_id: Hashable
    z: float
    fraction: float = float("nan")  # estimated share of this candidate's mark present


@dataclass
class TraceResult:
    scores: list[Score]  # sorted by z, highest first
    tensors_scored: int = 0
    entries_scored: int = 0
    realigned: dict[str, str] = field(default_factory=dict)  # tensor -> axes undone
    rescaled: list[str] = field(default_factory=list)  # tensors whose columns were rescaled
    skipped: list[str] = field(default_factory=list)  # marked tensors not usable in suspect


class _Source:
    """All tensors of a .safetensors file, or of every *.safetensors in a folder."""

    def __init__(self, path: Path | str) -> None:
        p = Path(path)
        files = sorted(p.glob("*.safetensors")) if p.is_dir() else [p]
        if not files:
            raise FileNotFoundError(f"no .safetensors file in {p}")
        self.readers: list[SafetensorsReader] = []
        try:
            for f in files:
                self.readers.append(SafetensorsReader(f))
        except Exception:
            self.close()
            raise
        self.where = {n: r for r in self.readers for n in r.tensors}

    def info(self, name: str) -> TensorInfo:
        return self.where[name].tensors[name]

    def rows(self, name: str, row0: int, nrows: int) -> np.ndarray:
        cols = self.info(name).shape[1]
        flat = self.where[name].read(name, row0 * cols, nrows * cols)
        return flat.astype(np.float32).reshape(nrows, cols)

    def full(self, name: str) -> np.ndarray:
        return self.where[name].tensor(name).astype(np.float32)

    def close(self) -> None:
        for r in self.readers:
            r.close()


def _resolve(name: str, suspect: _Source) -> str | None:
    """The suspect's name for an original tensor (exact, else a unique prefix variant)."""
    if name in suspect.where:
        return name
    hits = [s for s in suspect.where if s.endswith("." + name) or name.endswith("." + s)]
    return hits[0] if len(hits) == 1 else None


def _row_cos(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    num = np.einsum("ij,ij->i", x, w, dtype=np.float64)
    den = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    den *= np.sqrt(np.einsum("ij,ij->i", w, w, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _median_cos(x: np.ndarray, w: np.ndarray) -> float:
    """Median |cosine| of matching rows (a sign flip still counts as in place)."""
    cos = np.abs(_row_cos(x, w))
    return 1.0 if np.isnan(cos).all() else float(np.nanmedian(cos))


def _fit_scale(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Least-squares factors ``num / den``; 1 where undefined or absurdly small."""
    lam = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    lam[~np.isfinite(lam) | (np.abs(lam) < 1e-3)] = 1.0
    return lam


def _row_scales(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-row factors; rows within 5 % of 1 are left alone (that is noise, not an edit)."""
    num = np.einsum("ij,ij->i", x, w, dtype=np.float64)
    lam = _fit_scale(num, np.einsum("ij,ij->i", w, w, dtype=np.float64))
    lam[np.abs(lam - 1) <= _RESCALED_ROW] = 1.0
    return lam


def _column_scales(x: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """Per-column factors if columns were rescaled (as AWQ/SmoothQuant do), else None."""
    if x.shape[0] < _MIN_ROWS_FOR_COLUMNS:
        return None
    x = x / _row_scales(x, w)[:, None].astype(np.float32)
    num = np.einsum("ij,ij->j", x, w, dtype=np.float64)
    c = _fit_scale(num, np.einsum("ij,ij->j", w, w, dtype=np.float64))
    return c.astype(np.float32) if np.median(np.abs(c - 1)) > _RESCALED else None


def _unit_rows(m: np.ndarray) -> np.ndarray:
    m = m - m.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norm > 0, norm, 1)


def _match_rows(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``perm`` with ``x[perm[i]]`` ~ ``w[i]``: greedy best-correlation matching."""
    n, cols = x.shape
    pick = np.unique(np.linspace(0, cols - 1, min(cols, _MATCH_COLUMNS)).astype(np.int64))
    xs, ws = _unit_rows(x[:, pick]), _unit_rows(w[:, pick])
    owner = np.full(n, -1, dtype=np.int64)  # original row -> suspect row
    free_x = np.arange(n)
    for _ in range(32):
        free_w = np.flatnonzero(owner < 0)
        if free_x.size == 0:
            break
        best = np.empty(free_x.size, dtype=np.int64)
        val = np.empty(free_x.size)
        for b in range(0, free_x.size, 1024):
            sim = np.abs(xs[free_x[b : b + 1024]] @ ws[free_w].T)
            best[b : b + 1024], val[b : b + 1024] = free_w[sim.argmax(1)], sim.max(1)
        for k in np.argsort(-val, kind="stable"):
            if owner[best[k]] < 0:
                owner[best[k]] = free_x[k]
        free_x = np.setdiff1d(free_x, owner[owner >= 0], assume_unique=True)
    owner[owner < 0] = free_x  # give up on the rest: validation rejects a bad match
    return owner


def _both_axes(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rows and columns permuted: rows by their sorted values (blind to column order),
    then columns, then rows again now that columns are in place."""
    x = x[_match_rows(np.sort(x, axis=1), np.sort(w, axis=1))]
    x = x[:, _match_rows(x.T, w.T)]
    return x[_match_rows(x, w)]


def _realign(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Undo a permutation of the rows, the columns or both of ``x`` if one fits ``w``."""
    before = _median_cos(x, w)
    attempts = {
        "rows": lambda: x[_match_rows(x, w)],
        "columns": lambda: np.ascontiguousarray(x.T[_match_rows(x.T, w.T)].T),
        "rows+columns": lambda: _both_axes(x, w),
        "transposed": lambda: np.ascontiguousarray(x.T),
    }
    for how, attempt in attempts.items():
        if min(x.shape) < 2 or (how == "transposed" and x.shape[0] != x.shape[1]):
            continue
        aligned = attempt()
        after = _median_cos(aligned, w)
        if after >= _ALIGNED_COS and after > before + 0.2:
            return aligned, how
    return x, None


class _Accumulator:
    def __init__(self, n: int) -> None:
        self.dots = np.zeros(n)
        self.sumsq = 0.0
        self.expected = 0.0  # sum_j alpha_j sum_j(w^2): E[dot] per unit strength

    def add(self, x: np.ndarray, w: np.ndarray, keys: Sequence[bytes], start: int) -> None:
        r = x / _row_scales(x, w)[:, None].astype(np.float32) - w  # undo a row rescaling
        aw = np.abs(w)
        a_den = np.einsum("ij,ij->i", r * aw, r * aw, dtype=np.float64)
        a_num = np.einsum("ij,ij->i", w, w, dtype=np.float64)
        alpha = np.divide(a_num, a_den, out=np.zeros_like(a_num), where=a_den > 0)
        a = (r * aw * alpha[:, None].astype(np.float32)).reshape(-1)
        a[~np.isfinite(a)] = 0
        self.sumsq += float(np.dot(a, a.astype(np.float64)))
        self.expected += float(np.dot(alpha, a_num))
        for lo in range(0, a.size, _SUB):  # a slice stays in cache across candidates
            part = a[lo : lo + _SUB]
            total = float(part.sum(dtype=np.float64))
            for k, key in enumerate(keys):  # sum(a s) = 2 sum(a [bit=1]) - sum(a)
                self.dots[k] += (
                    2.0 * float(np.dot(part, sign_bits(key, start + lo, part.size))) - total
                )


def _score_tensor(
    name: str,
    sname: str,
    orig: _Source,
    sus: _Source,
    keys: Sequence[bytes],
    acc: _Accumulator,
    chunk: int,
    max_entries: int | None,
    result: TraceResult,
) -> None:
    info, sinfo = orig.info(name), sus.info(sname)
    rows, cols = info.shape
    if sinfo.dtype not in _SUSPECT_DTYPES or sinfo.shape not in (info.shape, (cols, rows)):
        result.skipped.append(name)
        return
    per = max(1, chunk // cols)
    x_full = w_full = None
    if sinfo.shape != info.shape:  # stored transposed
        if info.numel > REALIGN_LIMIT:
            result.skipped.append(name)
            return
        x_full = np.ascontiguousarray(sus.full(sname).T)
    probe = min(rows, max(per, 64))
    x0 = x_full[:probe] if x_full is not None else sus.rows(sname, 0, probe)
    w0 = orig.rows(name, 0, probe)
    if _median_cos(x0, w0) < _ALIGNED_COS and info.numel <= REALIGN_LIMIT:
        w_full = orig.full(name)
        x_full = sus.full(sname) if x_full is None else x_full
        x_full, how = _realign(x_full, w_full)
        if how:
            result.realigned[name] = how
        x0 = x_full[:probe]
    col_scale = _column_scales(x0, w0)  # estimated on the first rows, applied to all
    if col_scale is not None:
        result.rescaled.append(name)
    blocks: Sequence[int] = range(0, rows, per)
    if max_entries and len(blocks) * per * cols > max_entries:  # evenly spaced row blocks
        want = max(1, -(-max_entries // (per * cols)))
        blocks = [
            blocks[i] for i in np.unique(np.linspace(0, len(blocks) - 1, want).round().astype(int))
        ]
    for row0 in blocks:
        n = min(per, rows - row0)
        x = x_full[row0 : row0 + n] if x_full is not None else sus.rows(sname, row0, n)
        w = w_full[row0 : row0 + n] if w_full is not None else orig.rows(name, row0, n)
        acc.add(x if col_scale is None else x / col_scale, w, keys, row0 * cols)
        result.entries_scored += n * cols
    result.tensors_scored += 1


def trace_file(
    suspect: Path | str,
    original: Path | str,
    candidates: Iterable[tuple[str, KeyId]],
    keys: Mapping[KeyId, bytes],
    strength: float = DEFAULT_STRENGTH,
    chunk: int = DEFAULT_CHUNK,
    max_entries: int | None = None,
    only: Callable[[str], bool] | None = None,
) -> TraceResult:
    """Score every (recipient id, key id) candidate against the suspect.

    ``suspect`` and ``original`` are .safetensors files or folders of shards; recipient
    ids are compared as strings (as given to ``mark_file``); ``keys`` maps key ids to
    master keys. ``max_entries`` caps the entries scored per tensor (evenly spaced row blocks of
    about ``chunk`` entries) to trade z for time on huge models; the null stays N(0, 1).
    ``only`` limits the scoring to the tensors that carry the mark (a tier's
    ``fingerprint_tensors``): unmarked ones would only add noise.
    """
    cands = list(dict.fromkeys((str(r), k) for r, k in candidates))
    missing = {k for _, k in cands if k not in keys}
    if missing:
        raise ValueError(f"no key for key id(s): {sorted(map(repr, missing))}")
    result = TraceResult(scores=[])
    acc = _Accumulator(len(cands))
    orig, sus = _Source(original), _Source(suspect)
    try:
        for name, reader in orig.where.items():
            if not reader.tensors[name].markable or (only is not None and not only(name)):
                continue
            sname = _resolve(name, sus)
            if sname is None:
                result.skipped.append(name)
                continue
            tkeys = [tensor_key(keys[k], r, name) for r, k in cands]
            _score_tensor(name, sname, orig, sus, tkeys, acc, chunk, max_entries, result)
    finally:
        orig.close()
        sus.close()
    norm = np.sqrt(acc.sumsq)
    zs = acc.dots / norm if norm > 0 else np.zeros(len(cands))
    frac = acc.dots / (strength * acc.expected) if acc.expected > 0 else np.full(len(cands), np.nan)
    result.scores = sorted(
        (Score(r, k, float(z), float(f)) for (r, k), z, f in zip(cands, zs, frac, strict=True)),
        key=lambda s: -s.z,
    )
    return result


def score_file(
    suspect: Path | str,
    original: Path | str,
    candidates: Iterable[tuple[str, KeyId]],
    keys: Mapping[KeyId, bytes],
    strength: float = DEFAULT_STRENGTH,
) -> list[Score]:
    """Scores of every candidate, highest z first (see ``trace_file`` for the details)."""
    return trace_file(suspect, original, candidates, keys, strength).scores


def verdict(scores: Iterable[Score], threshold: float = DEFAULT_THRESHOLD) -> list[Score]:
    """The candidates whose z reaches ``threshold`` (several for colluders; [] for none)."""
    return sorted((s for s in scores if s.z >= threshold), key=lambda s: -s.z)
