"""Automated accessibility checks: axe-core (from the npm registry, installed by the
bootstrap into tests/browser/axe) run inside the page under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


# What Chromium says when a click's navigation replaces the document axe is reading.
NAVIGATED_AWAY = ("Execution context was destroyed", "reading 'documentElement'")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical WCAG 2.x A/AA violations on the page once it has loaded.

    A click on a link returns once the navigation has started; axe then may begin on
    the old document and lose it halfway. The check waits for the load and runs again
    on the page that replaced it."""
    assert AXE.exists(), (
        "axe-core is missing: run `make test` (it runs npm ci in tests/browser/axe)"
    )
    for attempt in range(3):
        page.wait_for_load_state("load")
        try:
            return _run_axe(page)
        except PlaywrightError as error:
            if attempt == 2 or not any(s in str(error) for s in NAVIGATED_AWAY):
                raise
    raise AssertionError("unreachable")


def _run_axe(page: Any) -> list[dict[str, Any]]:
    # Evaluated through the DevTools protocol, so the page's CSP does not block it.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": len(v["nodes"])}
        for v in result["violations"]
        if v.get("impact") in BLOCKING
    ]


def assert_accessible(page: Any) -> None:
    found = axe_violations(page)
    assert not found, f"accessibility problems on {page.url}: {found}"
