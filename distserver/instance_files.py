"""Files the server writes for other processes to read (development keys, the mail
outbox, the publish journal, the public audit key): each appears whole or not at all."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def _temporary_beside(path: Path) -> Path:
    # Named for this process and thread: two writers never share a temporary file.
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_whole(path: Path, content: str | bytes) -> None:
    """Write `path` so that a reader, in this process or another, finds the old content
    or the new one and never a part: written beside it under a temporary name, then
    renamed over it (atomic on one filesystem)."""
    tmp = _temporary_beside(path)
    if isinstance(content, str):
        tmp.write_text(content)
    else:
        tmp.write_bytes(content)
    tmp.replace(path)


def create_once(path: Path, make: Callable[[], bytes], mode: int = 0o600) -> bytes:
    """The content of `path`, made by `make()` if the file does not exist yet. Safe when
    several processes start at once (a worker and a scheduler, two commands): the content
    is written whole to a temporary file, then linked into place only if no one got there
    first, so every caller reads the one complete file and never a half-written one."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_beside(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(make())
        os.link(tmp, path)  # atomic, and refused when the file already exists
    except FileExistsError:
        pass  # another process won: its file is complete
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()
