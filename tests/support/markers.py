"""Marks each test with the real parts it needs (pyproject.toml's markers), so a run can
choose: `make test-fast` deselects them all. A test is marked by the fixtures it uses, the
parameters it runs with (a "postgres" database backend, an "s3" storage), or the folder it
lives in; tests whose needs none of these show carry an explicit mark."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

PARTS = ("postgres", "s3", "browser", "oidc", "hf", "slow")

# Fixtures that start or reach a real part (their users need it).
FIXTURE_PARTS: dict[str, tuple[str, ...]] = {
    "s3_peer": ("s3",),
    "browser": ("browser",),
    "page": ("browser",),
    "hub": ("hf",),
    "hub2": ("hf",),
    "live_server": ("slow",),
    "make_live_server": ("slow",),
}

# Folders whose every test needs a part.
FOLDER_PARTS: dict[str, tuple[str, ...]] = {
    "browser": ("browser", "slow"),
    "e2e": ("slow",),
    "hf": ("hf",),
}

# What a test's own code, or a fixture's, does that needs a part no fixture name tells.
SOURCE_PARTS: dict[str, re.Pattern[str]] = {
    "postgres": re.compile(
        r"""make_app\(\s*(backend=)?["']postgres["']|pg_admin_engine|PG_ADMIN_URL|psycopg\.connect"""
    ),
    "oidc": re.compile(r"oidc-provider|op\.mjs|OP_DIR"),
    "hf": re.compile(r"huggingface_hub|hf_hub_download|snapshot_download"),
    "slow": re.compile(
        r"live_gunicorn|LiveGunicorn|job_processes|demo_process|forwarding_proxy"
        r"|subprocess\.Popen|LiveServer\("
    ),
}

# Tests that start no extra process but run for a minute or more under load (long loops:
# every route by every role, many hostile inputs), or take seconds on their own (a wait on
# the real clock past a link's expiry, fingerprint arrays marked and traced): `slow`.
SLOW_TESTS = frozenset(
    {
        "tests/storage/test_contract.py::test_link_is_refused_after_its_lifetime",
        "tests/fingerprint/test_storage_budget.py::"
        "test_only_shards_with_marked_tensors_are_copied_and_traced",
        "tests/fingerprint/test_trace_cli.py::test_trace_names_the_recipient_of_each_suspect",
        "tests/audit/test_chain.py::test_randomised_tampering_is_caught_and_named",
        "tests/security/test_authorization_matrix.py::test_authorization_matrix",
        "tests/accounts/test_next.py::test_fifty_hostile_next_values_never_leave_the_site",
        "tests/security/test_second_factor_rules.py::"
        "test_second_factor_rules_for_sessions_and_the_tokens_they_mint",
        "tests/audit/test_sealing.py::test_the_cli_seals_and_verifies",
        "tests/accounts/test_enumeration.py::"
        "test_register_takes_as_long_for_an_existing_address_as_for_a_new_one",
    }
)

TESTS_ROOT = Path(__file__).resolve().parent.parent
_sources: dict[Callable[..., Any], str] = {}


def _source(function: Callable[..., Any]) -> str:
    if function not in _sources:
        try:
            _sources[function] = inspect.getsource(function)
        except (OSError, TypeError):
            _sources[function] = ""
    return _sources[function]


def _code_of(item: pytest.Item) -> Iterable[str]:
    """The source of the test function and of every fixture it uses."""
    function = getattr(item, "function", None)
    if function is not None:
        yield _source(function)
    info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(info, "name2fixturedefs", {}).values():
        for definition in definitions:
            if Path(str(getattr(definition, "baseid", "") or "")).parts[:1] != ("distserver",):
                yield _source(definition.func)


def _values(value: object) -> Iterable[object]:
    if isinstance(value, tuple | list):
        for part in value:
            yield from _values(part)
    else:
        yield value


def parts_needed(item: pytest.Item) -> set[str]:
    """The real parts one collected test needs, as marker names."""
    needed: set[str] = set()
    for name in getattr(item, "fixturenames", ()):
        needed.update(FIXTURE_PARTS.get(name, ()))
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for value in _values(list(callspec.params.values())):
            if value == "postgres":
                needed.add("postgres")
            elif value == "s3":
                needed.add("s3")
    try:
        folder = Path(str(item.path)).resolve().relative_to(TESTS_ROOT).parts[0]
    except ValueError:
        folder = ""
    needed.update(FOLDER_PARTS.get(folder, ()))
    if item.nodeid.split("[", 1)[0] in SLOW_TESTS:
        needed.add("slow")
    for code in _code_of(item):
        needed.update(part for part, pattern in SOURCE_PARTS.items() if pattern.search(code))
    return needed


def mark_parts(items: list[pytest.Item]) -> None:
    for item in items:
        present = {mark.name for mark in item.iter_markers()}
        for part in sorted(parts_needed(item) - present):
            item.add_marker(getattr(pytest.mark, part))
