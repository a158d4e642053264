"""CSV cells that spreadsheets show as text, for every CSV export (the access report,
the audit log)."""

from __future__ import annotations

from typing import Any


def spreadsheet_cell(value: Any) -> Any:
    """A value as a CSV cell that a spreadsheet shows as text: None as empty, and a string
    starting with =, +, -, @, a tab or a carriage return (which would run as a formula)
    behind a single quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
