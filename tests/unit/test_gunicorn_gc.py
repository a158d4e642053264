"""The deployed gunicorn settings take a worker's start-up objects out of Python's full
garbage-collection passes (docs/benchmarks.md: such a pass over the whole app stalls
every thread of the worker for about 0.1 s)."""

from __future__ import annotations

import gc
import runpy

from distserver.config import PROJECT_DIR


def test_gunicorn_workers_freeze_their_start_up_objects() -> None:
    settings = runpy.run_path(str(PROJECT_DIR / "docker" / "gunicorn.conf.py"))
    assert callable(settings.get("post_worker_init")), "the hook is gone"
    before = gc.get_freeze_count()
    try:
        settings["post_worker_init"](None)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()
