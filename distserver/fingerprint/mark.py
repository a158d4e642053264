"""Keyed, dense, relative fingerprint of model weights ("distserver-fp-v1").

Each copy of a model handed to a recipient carries a mark of its own. This module is
pure (numpy + cryptography, no Flask, no database); an outsider can reimplement it
from this description alone.

Sign pattern
------------
For a master key ``K`` (bytes), a recipient id ``R`` (str, UTF-8, must not contain
``"|"``) and a tensor name ``T`` (str, UTF-8, the key in the safetensors header):

1. ``k = HMAC-SHA256(K, b"distserver-fp-v1|" + R + b"|" + T)`` (32 bytes).
2. ``stream = ChaCha20(key=k)`` keystream, IETF variant (RFC 8439: 32-bit block
   counter starting at 0, 96-bit nonce of all zeros). In ``cryptography`` terms:
   ``algorithms.ChaCha20(k, bytes(16))`` encrypting zero bytes. A unique key per
   (K, R, T) makes the fixed nonce safe.
3. Entry ``i`` of the tensor (row-major / C order, as stored in the file) takes bit
   ``i % 8`` (least significant bit first) of keystream byte ``i // 8``:
   ``s_i = +1`` if that bit is 1, else ``-1``.

Mark
----
Applied to every entry of every 2-D floating-point tensor (F32, F16, BF16); other
tensors and files are not touched. With ``strength`` (default 0.005) all arithmetic
is IEEE float32, in this order::

    w32 = float32(w)                           # exact for F16 / BF16
    d   = (float32(strength) * |w32|) * s      # 0 when w is 0 or not finite
    y   = round_to_stored_dtype(w32 + d)       # round-to-nearest-even; no-op for F32
    if y == w and d != 0:  y = w moved one ulp (in the stored format) towards sign(d)
    if y is not finite:    y = w

Rounding: F16 has a relative resolution of 2^-11..2^-10, so a relative 0.005 mark is
5-10 ulps and survives rounding (realised relative change 0.005 +- 0.0005). BF16 has
8 significant bits: one ulp is 2^-7 / m of |w| with m = |w| / 2^floor(log2 |w|) in
[1, 2), i.e. 0.39 %..0.78 %. The mark is 0.64*m ulp in [0.64, 1.28), which always
rounds to exactly one ulp: at the default strength every non-zero BF16 entry moves by
exactly one ulp in the direction of ``s`` (mean relative change about 0.56 %). Below
strength 2^-8 ~ 0.0039 rounding would erase part of a BF16 mark (below 2^-12 for F16);
the one-ulp floor above keeps every non-zero entry marked at any strength. Zero weights
stay zero; F16 subnormals (|w| < 6.1e-5) move by whole subnormal steps. The output is a
deterministic function of (weights, K, R, strength), so a copy can be re-made at will.

Detection (see ``trace.py``) needs only ``s`` and the original ``w``, never the
strength: the statistic is invariant to the mark's scale.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import ml_dtypes
import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

DOMAIN = b"distserver-fp-v1|"
DEFAULT_STRENGTH = 0.005
DEFAULT_CHUNK = 1 << 22  # entries per chunk (4M) when streaming
BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
MARKABLE_DTYPES = (np.dtype(np.float32), np.dtype(np.float16), BFLOAT16)

_BLOCK_ENTRIES = 512  # one 64-byte ChaCha20 block covers 512 entries
_UINT_OF = {4: np.uint32, 2: np.uint16}


def tensor_key(master_key: bytes, recipient: str, tensor: str) -> bytes:
    """The 32-byte ChaCha20 key of one (master key, recipient, tensor)."""
    if not isinstance(master_key, bytes | bytearray) or not master_key:
        raise ValueError("master_key must be non-empty bytes")
    if "|" in recipient:
        raise ValueError("recipient id must not contain '|'")
    msg = DOMAIN + recipient.encode() + b"|" + tensor.encode()
    return hmac.new(bytes(master_key), msg, hashlib.sha256).digest()


def sign_bits(key: bytes, start: int, count: int) -> np.ndarray:
    """Bits (uint8 0/1) of entries ``start .. start+count`` for a ``tensor_key``."""
    if start < 0 or count < 0:
        raise ValueError("start and count must be >= 0")
    block, skip = divmod(start, _BLOCK_ENTRIES)
    if block + (skip + count) // _BLOCK_ENTRIES + 1 >= 1 << 32:
        raise ValueError("tensor too large for one ChaCha20 stream")
    nonce = block.to_bytes(4, "little") + bytes(12)
    enc = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()
    nbytes = (skip + count + 7) // 8
    raw = np.frombuffer(enc.update(bytes(nbytes)), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[skip : skip + count]


def pattern_slice(
    master_key: bytes, recipient: str, tensor: str, start: int, count: int
) -> np.ndarray:
    """Signs (int8, +1/-1) of entries ``start .. start+count`` of one tensor."""
    bits = sign_bits(tensor_key(master_key, recipient, tensor), start, count)
    return (bits.view(np.int8) * 2 - 1).astype(np.int8)


def pattern(master_key: bytes, recipient: str, tensor: str, n: int) -> np.ndarray:
    """The full sign pattern (int8, +1/-1) of an ``n``-entry tensor."""
    return pattern_slice(master_key, recipient, tensor, 0, n)


def pattern_chunks(
    master_key: bytes, recipient: str, tensor: str, n: int, chunk: int = DEFAULT_CHUNK
) -> Iterator[np.ndarray]:
    """The sign pattern of an ``n``-entry tensor, ``chunk`` entries at a time."""
    if chunk <= 0:
        raise ValueError("chunk must be > 0")
    key = tensor_key(master_key, recipient, tensor)
    for start in range(0, n, chunk):
        bits = sign_bits(key, start, min(chunk, n - start))
        yield (bits.view(np.int8) * 2 - 1).astype(np.int8)


def _step_one_ulp(stored: np.ndarray, towards_positive: np.ndarray) -> np.ndarray:
    """Each (non-zero, finite) value moved one ulp of its format up or down."""
    uint = _UINT_OF[stored.dtype.itemsize]
    bits = stored.view(uint).astype(np.int64)
    away_from_zero = towards_positive == (stored > 0)
    bits += np.where(away_from_zero, 1, -1)
    return bits.astype(uint).view(stored.dtype)


def mark_tensor(
    arr: np.ndarray,
    master_key: bytes,
    recipient: str,
    tensor: str,
    strength: float = DEFAULT_STRENGTH,
    offset: int = 0,
) -> np.ndarray:
    """Return a marked copy of ``arr`` (F32, F16 or bfloat16), same dtype and shape.

    ``arr`` may be a slice of a tensor: ``offset`` is the row-major index of its first
    entry in the whole tensor, so a tensor can be marked chunk by chunk. Which tensors
    to mark (2-D only) is the caller's policy; this marks whatever it is given.
    """
    dtype = np.dtype(arr.dtype)
    if dtype not in MARKABLE_DTYPES:
        raise TypeError(f"cannot mark dtype {dtype}; expected float32, float16 or bfloat16")
    if not 0 < strength < 1:
        raise ValueError("strength must be in (0, 1)")
    flat = np.ascontiguousarray(arr).reshape(-1)
    signs = pattern_slice(master_key, recipient, tensor, offset, flat.size)
    w32 = flat.astype(np.float32)
    finite = np.isfinite(w32)
    delta = np.where(finite, np.float32(strength) * np.abs(w32), np.float32(0))
    delta *= signs
    with np.errstate(over="ignore", invalid="ignore"):
        out = (w32 + delta).astype(dtype)
        erased = (out == flat) & (delta != 0)
        if erased.any():
            out[erased] = _step_one_ulp(flat[erased], signs[erased] > 0)
        bad = ~np.isfinite(out.astype(np.float32))
    out[bad] = flat[bad]
    return out.reshape(arr.shape)
