"""A copy of the project's tiers folder with some fields changed, for tests that
need a short link lifetime or a small quota."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from distserver.config import PROJECT_DIR


def tiers_with(directory: Path, changes: dict[str, dict[str, object]]) -> Path:
    """changes: {"researcher": {"link_ttl": 2, "daily_quota": 100}} -> the new folder."""
    target = directory / "tiers"
    shutil.copytree(PROJECT_DIR / "tiers", target)
    for tier, fields in changes.items():
        path = target / f"{tier}.toml"
        text = path.read_text()
        for key, value in fields.items():
            rendered = f'"{value}"' if isinstance(value, str) else str(value).lower()
            line = f"{key} = {rendered}"
            text, n = re.subn(rf"(?m)^{key} = .*$", line, text)
            if n == 0:
                # Top-level keys must come before the first [[table]].
                head, sep, tail = text.partition("\n[[")
                text = f"{head}\n{line}\n{sep}{tail}" if sep else f"{text}\n{line}\n"
        path.write_text(text)
    return target
