"""Browser fixtures, shared by every browser test:

- `make_live_server(**settings)` / `live_server`: the app (from `make_app`, SQLite)
  served by werkzeug on 127.0.0.1 at a free port, in a thread, for one test;
- `browser`: Debian's chromium driven by Playwright (one per test session);
- `page`: a fresh browser context and page per test, which saves a screenshot of
  every page it loads into test-artifacts/screenshots/ (printed at the end).

Chromium is launched from /usr/bin/chromium, never downloaded: a missing browser
fails the test with a sentence that names it."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class LiveServer:
    app: Flask
    url: str
    server: BaseWSGIServer

    def at(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def make_live_server(make_app: Any) -> Iterator[Callable[..., LiveServer]]:
    started: list[tuple[LiveServer, threading.Thread]] = []

    def start(**settings: Any) -> LiveServer:
        app = make_app("sqlite", **settings)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
        thread.start()
        live = LiveServer(app, f"http://127.0.0.1:{server.server_port}", server)
        # Links (mail, SSO callback, file links) name the configured address: this one.
        app.config["EXTERNAL_URL"] = live.url
        started.append((live, thread))
        return live

    yield start
    for live, thread in started:
        live.server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def live_server(make_live_server: Callable[..., LiveServer]) -> LiveServer:
    return make_live_server()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    assert CHROMIUM.exists(), (
        "Debian's chromium is required for the browser tests and is missing at "
        "/usr/bin/chromium: apt-get install -y chromium"
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    print(f"\nbrowser screenshots: {SCREENSHOTS}")


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page that screenshots every page it loads (and its final state)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    for old in SCREENSHOTS.glob(f"{test}-*.png"):
        old.unlink()
    context = browser.new_context()
    pw_page = context.new_page()
    count = [0]
    own_port: list[int | None] = [None]

    def shot(label: str) -> None:
        count[0] += 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:60] or "root"
        target = SCREENSHOTS / f"{test}-{count[0]:02d}-{slug}.png"
        try:
            # Short: a page the journey has already left can hold a screenshot until
            # its timeout (15 s each, a tenth of the browser tests' time).
            pw_page.screenshot(path=str(target), timeout=5_000, animations="disabled")
        except PlaywrightError as exc:
            # A record, not a check: say so and go on rather than fail the journey.
            print(f"\nno screenshot {target.name}: {exc.message.splitlines()[0]}")

    def on_load(loaded: Any) -> None:
        parts = urlsplit(loaded.url)
        # Pages of another server than the first one seen (the OIDC provider) are
        # told apart by their port.
        own_port[0] = own_port[0] or parts.port
        shot(parts.path if parts.port == own_port[0] else f"port{parts.port}{parts.path}")

    pw_page.on("load", on_load)
    pw_page.shot = shot  # type: ignore[attr-defined]  (tests may name extra moments)
    yield pw_page
    try:
        shot("final")
    finally:
        context.close()
