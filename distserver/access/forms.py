"""Checking an application's answers against the form of a tier (and model)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from distserver.access.tiers import FormField
from distserver.errors import BadRequest

MAX_TEXT = 200
MAX_TEXTAREA = 5000
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


def validate_answers(form: tuple[FormField, ...], answers: Any) -> dict[str, Any]:
    """The answers, checked and normalised, or BadRequest naming the first bad field.

    text/textarea: a string (required ones non-blank); checkbox: a boolean (a
    required checkbox must be ticked); select: one of the choices; country: an ISO
    3166-1 alpha-2 code; date: an ISO date (YYYY-MM-DD). Unknown fields are refused."""
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        raise BadRequest(
            "'answers' must be an object of field names to values.", code="invalid_answers"
        )
    known = {f.name for f in form}
    extra = sorted(set(answers) - known)
    if extra:
        raise BadRequest(f"The form has no field {extra[0]!r}.", code="invalid_answers")
    clean: dict[str, Any] = {}
    for f in form:
        value = answers.get(f.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if f.required:
                raise BadRequest(f"'{f.label}' is required.", code="invalid_answers")
            continue
        clean[f.name] = _check(f, value)
        if f.type == "checkbox" and f.required and clean[f.name] is not True:
            raise BadRequest(f"'{f.label}' must be ticked.", code="invalid_answers")
    return clean


def _check(f: FormField, value: Any) -> Any:
    def bad(what: str) -> BadRequest:
        return BadRequest(f"'{f.label}' must be {what}.", code="invalid_answers")

    if f.type == "checkbox":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if not isinstance(value, str):
        raise bad("a string")
    value = value.strip()
    if f.type in ("text", "textarea"):
        limit = MAX_TEXT if f.type == "text" else MAX_TEXTAREA
        if len(value) > limit or "\x00" in value:
            raise bad(f"at most {limit} characters")
        return value
    if f.type == "select":
        if value not in f.choices:
            raise bad(f"one of {', '.join(f.choices)}")
        return value
    if f.type == "country":
        if not COUNTRY_RE.match(value.upper()):
            raise bad("a two-letter country code (ISO 3166-1)")
        return value.upper()
    if f.type == "date":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise bad("a date like 2026-01-31") from None
    raise bad("valid")  # pragma: no cover (types are checked when tiers load)
