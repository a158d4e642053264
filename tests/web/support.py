"""Helpers for the web page tests: a statement counter on the engine, and a seeded
catalog with one model at each kind of stage."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from distserver.extensions import db
from tests.support.world import World

PASSWORD = "correct horse battery staple"
CARD = """# Tiny LLM

A *small* model. <script>alert('x')</script>
<img src=x onerror="alert(1)">

[docs](https://example.org/docs)
"""


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every SQL statement the engine runs inside the block on this thread (jobs that
    run in the background meanwhile, such as webhook deliveries, are not the page's)."""
    seen: list[str] = []
    me = threading.get_ident()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == me:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def seed(world: World) -> dict[str, Any]:
    """Three visible models (public, research-access, partner-preview), one internal."""
    public = world.model("acme/open-llm", plan="open")
    public.card = CARD
    research = world.model("acme/research-llm", stage="research-access")
    partner = world.model("acme/partner-llm", stage="partner-preview")
    internal = world.model("acme/secret-llm", stage="internal")
    db.session.commit()
    return {"public": public, "research": research, "partner": partner, "internal": internal}
