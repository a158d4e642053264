"""Per-recipient keyed fingerprints in model weights, and tracing a leak to its copy.

Pure module: numpy, ml_dtypes and cryptography only. See ``mark.py`` for the scheme.
"""

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
