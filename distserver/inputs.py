"""Numbers and JSON from users, parsed strictly, in one place.

- Integers are ASCII digits with an optional minus sign, nothing else. Python's
  `int()` and `str.isdigit()` accept other scripts' digits (`int("٣") == 3`) and
  `isdigit()` even superscripts that `int()` then refuses (`"²"`), which turned
  query arguments into 500s. `parse_int` is the one parser; `int_arg` reads a query
  argument with bounds; `StrictIntConverter` is the `<int:...>` of every route.
- JSON is refused when it nests deeper than MAX_JSON_DEPTH: Python's parser
  recurses, so a body of 10,000 `[` ends in RecursionError instead of an answer.
  `BoundedJSONProvider` applies the bound to every `request.get_json()` of the app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from distserver.errors import BadRequest

MAX_JSON_DEPTH = 32
# 19 digits reach every 64-bit key; longer numbers name nothing here.
_INTEGER = re.compile(r"-?[0-9]{1,19}")
# A JSON string (escapes included) or one bracket: strings are skipped whole, so
# brackets inside them do not count.
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def parse_int(raw: str) -> int | None:
    """The integer `raw` spells in ASCII digits, or None."""
    return int(raw) if _INTEGER.fullmatch(raw) else None


def int_arg(
    args: Mapping[str, str], name: str, default: int | None, low: int, high: int | None = None
) -> int | None:
    """The query argument `name` as an integer in [low, high]; `default` when absent
    or empty; BadRequest (400, code invalid_parameter) naming it otherwise."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    value = parse_int(raw)
    if value is None or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"{name!r} must be an integer {bounds}.", code="invalid_parameter")
    return value


def json_depth(text: str) -> int:
    """How deep the arrays and objects of `text` nest (for JSON that parses, exact)."""
    depth = deepest = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        found = match.group()
        if found in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif found in ("]", "}"):
            depth -= 1
    return deepest


def loads_bounded(data: str | bytes) -> Any:
    """json.loads, refusing (ValueError) documents nested deeper than MAX_JSON_DEPTH."""
    text = data.decode(json.detect_encoding(data)) if isinstance(data, bytes | bytearray) else data
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return json.loads(text)


def parse_json_body(data: bytes) -> Any:
    """A request body's JSON, or BadRequest (400) saying what is wrong with it."""
    try:
        return loads_bounded(data)
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8 JSON.", code="invalid_json") from None
    except ValueError as exc:
        if "deeper" in str(exc):
            raise BadRequest(
                f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.", code="invalid_json"
            ) from None
        raise BadRequest("The body must be a JSON object.", code="invalid_json") from None


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with the depth bound on everything it parses."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_bounded(s)


class StrictIntConverter(IntegerConverter):
    """`<int:...>` in routes, ASCII digits only (werkzeug's matches any script's)."""

    regex = r"[0-9]+"


def install(app: Flask) -> None:
    """Bound JSON parsing and use strict integers in routes (before routes are added)."""
    app.json = BoundedJSONProvider(app)
    app.url_map.converters["int"] = StrictIntConverter
