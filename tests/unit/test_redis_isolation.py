"""Every pytest-xdist worker shares the machine's Redis, and two tests of one module can run
at the same time on two workers: a test that flushed a database would wipe (and a worker
process of one test would consume) another test's jobs and counters. So tests never flush;
each uses a key namespace of its own (tests/support/redis_namespace.py) and deletes only
its keys."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FLUSH = re.compile(r"\.flush(db|all)\(")
REDIS_ADDRESS = re.compile(r"redis://127\.0\.0\.1:6379")
NAMESPACE_HELPER = Path("support/redis_namespace.py")


def _sources() -> dict[Path, str]:
    return {p.relative_to(TESTS): p.read_text(encoding="utf-8") for p in TESTS.rglob("*.py")}


def test_no_test_flushes_a_redis_database_other_workers_share() -> None:
    assert [str(path) for path, text in _sources().items() if FLUSH.search(text)] == []


def test_the_test_redis_is_named_only_by_the_namespace_helper() -> None:
    named = [str(p) for p, text in _sources().items() if REDIS_ADDRESS.search(text)]
    assert named == [str(NAMESPACE_HELPER)]
