"""Per-recipient keyed fingerprints in model weights, and tracing a leak to its copy.

Pure module: numpy, ml_dtypes and cryptography only. See ``mark.py`` for the scheme.

The names below are loaded on first use (PEP 562): importing a submodule that needs
none of them (``distserver.fingerprint.models``, which every app start imports) then
does not pay for numpy and ml_dtypes, most of a second of every command's start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .mark import (
        DEFAULT_CHUNK,
        DEFAULT_STRENGTH,
        mark_tensor,
        pattern,
        pattern_chunks,
        pattern_slice,
        tensor_key,
    )
    from .safetensors_stream import (
        Header,
        SafetensorsReader,
        TensorInfo,
        mark_file,
        read_header,
        write_safetensors,
    )
    from .trace import DEFAULT_THRESHOLD, Score, TraceResult, score_file, trace_file, verdict

_WHERE = {
    "mark": (
        "DEFAULT_CHUNK",
        "DEFAULT_STRENGTH",
        "mark_tensor",
        "pattern",
        "pattern_chunks",
        "pattern_slice",
        "tensor_key",
    ),
    "safetensors_stream": (
        "Header",
        "SafetensorsReader",
        "TensorInfo",
        "mark_file",
        "read_header",
        "write_safetensors",
    ),
    "trace": ("DEFAULT_THRESHOLD", "Score", "TraceResult", "score_file", "trace_file", "verdict"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_STRENGTH",
    "DEFAULT_THRESHOLD",
    "Header",
    "SafetensorsReader",
    "Score",
    "TensorInfo",
    "TraceResult",
    "mark_file",
    "mark_tensor",
    "pattern",
    "pattern_chunks",
    "pattern_slice",
    "read_header",
    "score_file",
    "tensor_key",
    "trace_file",
    "verdict",
    "write_safetensors",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
