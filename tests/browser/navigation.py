"""Following a link in a browser test."""

from __future__ import annotations

from typing import Any


def follow(page: Any, selector: str) -> None:
    """Click a link and wait until the page it leads to has loaded: reading or counting
    right after the click could read a page still arriving."""
    with page.expect_navigation(wait_until="load"):
        page.click(selector)
