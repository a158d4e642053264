"""Test-run speed: werkzeug compiles two URL-builder functions for every route of every
app (an `ast` tree put through `compile()`), about 0.15 s per app here, and the suite
makes an app for nearly every test. The code it compiles depends only on the route's
parsed pattern, so the tests compile each pattern once and hand the same function to
every app; the function reads the rule's own converters when it is called, so each app
still builds its URLs with its own.

Written here because werkzeug offers no cache or lazy mode for this; only the tests use
it (a production process makes its app once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule

_original = Rule._compile_builder
_compiled: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def _compile_builder_once(self: Rule, append_unknown: bool = True) -> Callable[..., Any]:
    if self.defaults:  # defaults are folded into the code through converters: no sharing
        return _original(self, append_unknown)
    key = (tuple(self._trace), append_unknown)
    builder = _compiled.get(key)
    if builder is None:
        builder = _compiled[key] = _original(self, append_unknown)
    return builder


def install() -> None:
    Rule._compile_builder = _compile_builder_once  # type: ignore[method-assign]
