"""Streaming access to .safetensors files, and streaming marking of whole files.

A .safetensors file is: 8-byte little-endian header length ``n``, ``n`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``),
then the data area; offsets are relative to the start of the data area.

``mark_file`` reads its source strictly sequentially (so it also works on a
non-seekable stream such as an S3 body) and yields the marked file chunk by chunk:
identical header bytes, identical length and offsets, every 2-D F32/F16/BF16 tensor
marked (``mark.mark_tensor``), every other byte copied. Memory stays at a few chunks
whatever the size of the model.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .mark import BFLOAT16, DEFAULT_CHUNK, DEFAULT_STRENGTH, mark_tensor, tensor_key

MAX_HEADER = 100 * 1024 * 1024
COPY_CHUNK = 16 * 1024 * 1024
FLOAT_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": BFLOAT16,
}
_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2,
    "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a safetensors header; ``begin``/``end`` relative to the data area."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def markable(self) -> bool:
        """2-D floating-point matrix: the tensors the fingerprint covers."""
        return self.dtype in FLOAT_DTYPES and len(self.shape) == 2 and self.numel > 0


@dataclass(frozen=True)
class Header:
    raw: bytes  # the 8 length bytes + the JSON bytes, verbatim
    tensors: tuple[TensorInfo, ...]  # sorted by offset
    metadata: dict[str, str]

    @property
    def data_start(self) -> int:
        return len(self.raw)

    def by_name(self) -> dict[str, TensorInfo]:
        return {t.name: t for t in self.tensors}


class Readable(Protocol):
    """What the marker reads from: an open binary file or anything with its read()."""

    def read(self, n: int = -1, /) -> bytes: ...


def _read_exact(f: Readable, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = f.read(n - len(buf))
        if not part:
            raise ValueError("truncated safetensors file")
        buf += part
    return bytes(buf)


def parse_header(prefix: bytes, json_bytes: bytes) -> Header:
    """Validate and parse a header; raises ``ValueError`` on anything malformed."""
    try:
        obj = json.loads(json_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"safetensors header is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError("safetensors header is not a JSON object")
    meta = obj.pop("__metadata__", None) or {}
    tensors = []
    for name, spec in obj.items():
        try:
            dtype, shape = spec["dtype"], tuple(int(d) for d in spec["shape"])
            begin, end = (int(v) for v in spec["data_offsets"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"bad header entry for tensor {name!r}") from exc
        if dtype not in _ITEMSIZE or any(d < 0 for d in shape) or not 0 <= begin <= end:
            raise ValueError(f"bad dtype, shape or offsets for tensor {name!r}")
        if end - begin != math.prod(shape) * _ITEMSIZE[dtype]:
            raise ValueError(f"size of tensor {name!r} does not match its dtype and shape")
        tensors.append(TensorInfo(name, dtype, shape, begin, end))
    tensors.sort(key=lambda t: (t.begin, t.end))
    for prev, cur in itertools.pairwise(tensors):
        if cur.begin < prev.end:
            raise ValueError(f"tensors {prev.name!r} and {cur.name!r} overlap")
    return Header(prefix + json_bytes, tuple(tensors), dict(meta))


def read_header(f: Readable) -> Header:
    """Read the header from the current position of ``f`` (left just after it)."""
    prefix = _read_exact(f, 8)
    (n,) = struct.unpack("<Q", prefix)
    if n > MAX_HEADER:
        raise ValueError(f"safetensors header too large ({n} bytes)")
    return parse_header(prefix, _read_exact(f, n))


def _copy(f: Readable, n: int) -> Iterator[bytes]:
    while n > 0:
        part = _read_exact(f, min(n, COPY_CHUNK))
        n -= len(part)
        yield part


def mark_file(
    src: Readable | Path | str,
    master_key: bytes,
    recipient: str,
    strength: float = DEFAULT_STRENGTH,
    chunk: int = DEFAULT_CHUNK,
    only: Callable[[str], bool] | None = None,
) -> Iterator[bytes]:
    """Return an iterator over the marked copy of a safetensors file, chunk by chunk.
    ``only`` (a tensor name -> bool), when given, limits the mark to the markable
    tensors it accepts; the others are copied as they are.

    The output has exactly the length of the input (so a Content-Length is known up
    front), the same header bytes, and is deterministic for (key, recipient, strength).
    Arguments are checked at once; the source is read (and a malformed header raises
    ``ValueError``) only from the first ``next()``: take the first chunk (the header)
    before committing a response.
    """
    tensor_key(master_key, recipient, "")  # validates key and recipient id
    if not 0 < strength < 1 or chunk <= 0:
        raise ValueError("strength must be in (0, 1) and chunk > 0")
    return _mark_stream(src, master_key, recipient, strength, chunk, only)


def _mark_stream(
    src: Readable | Path | str,
    master_key: bytes,
    recipient: str,
    strength: float,
    chunk: int,
    only: Callable[[str], bool] | None = None,
) -> Iterator[bytes]:
    with ExitStack() as stack:
        f = src if not isinstance(src, str | Path) else stack.enter_context(open(src, "rb"))
        header = read_header(f)
        yield header.raw
        pos = 0
        for t in header.tensors:
            yield from _copy(f, t.begin - pos)  # gaps are not expected, but kept
            if not t.markable or (only is not None and not only(t.name)):
                yield from _copy(f, t.end - t.begin)
            else:
                dtype = FLOAT_DTYPES[t.dtype]
                for start in range(0, t.numel, chunk):
                    count = min(chunk, t.numel - start)
                    raw = _read_exact(f, count * dtype.itemsize)
                    arr = np.frombuffer(raw, dtype=dtype)
                    yield mark_tensor(arr, master_key, recipient, t.name, strength, start).tobytes()
            pos = t.end
        while part := f.read(COPY_CHUNK):  # anything after the last tensor
            yield part


class SafetensorsReader:
    """Random access to the tensors of one file by seeking; loads only what is asked."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._f = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        try:
            self.header = read_header(self._f)
        except Exception:
            self._f.close()
            raise
        self.tensors = self.header.by_name()

    def read(self, name: str, start: int = 0, count: int | None = None) -> np.ndarray:
        """Entries ``start .. start+count`` (row-major) of tensor ``name``, flat."""
        t = self.tensors[name]
        dtype = FLOAT_DTYPES[t.dtype] if t.dtype in FLOAT_DTYPES else np.dtype(_NUMPY_OF[t.dtype])
        count = t.numel - start if count is None else count
        if start < 0 or count < 0 or start + count > t.numel:
            raise ValueError("range outside the tensor")
        self._f.seek(self.header.data_start + t.begin + start * dtype.itemsize)
        return np.frombuffer(_read_exact(self._f, count * dtype.itemsize), dtype=dtype)

    def tensor(self, name: str) -> np.ndarray:
        return self.read(name).reshape(self.tensors[name].shape)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> SafetensorsReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_NUMPY_OF = {
    "BOOL": "?", "U8": "u1", "I8": "i1", "I16": "<i2", "U16": "<u2", "I32": "<i4",
    "U32": "<u4", "I64": "<i8", "U64": "<u8", "F64": "<f8", "F8_E4M3": "u1", "F8_E5M2": "u1",
}  # fmt: skip
_CODE_OF = {
    "float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64", "bool": "BOOL",
    "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16", "int32": "I32",
    "uint32": "U32", "int64": "I64", "uint64": "U64",
}  # fmt: skip


def write_safetensors(
    path: Path | str, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None
) -> None:
    """Write arrays (incl. ml_dtypes bfloat16) as a safetensors file, in the given order."""
    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    pos = 0
    arrays = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr)
        code = _CODE_OF[a.dtype.name]
        header[name] = {
            "dtype": code,
            "shape": list(a.shape),
            "data_offsets": [pos, pos + a.nbytes],
        }
        pos += a.nbytes
        arrays.append(a.byteswap() if a.dtype.byteorder == ">" else a)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for a in arrays:
            f.write(a.tobytes())
