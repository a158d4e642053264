"""Where to apply: the application page's URL for a refusal an application can cure
(the policy's Decision.apply_tier), for every door to show its own way: the JSON
error's extra `apply_url` field and a last sentence of its message (which the
Hugging Face door's GatedRepo message repeats word for word), a link on the web page."""

from __future__ import annotations

from flask import url_for

from distserver.access.policy import Decision


def apply_url(decision: Decision | None, ref: str | None, *, external: bool = True) -> str | None:
    """The URL of the application form for `ref`'s curing tier, or None when no
    application can cure this refusal."""
    if decision is None or decision.apply_tier is None or not ref or "/" not in ref:
        return None
    namespace, name = ref.split("/", 1)
    return url_for(
        "web.apply", namespace=namespace, name=name, tier=decision.apply_tier, _external=external
    )


def refusal_apply_url(exc: Exception, *, external: bool = True) -> str | None:
    """apply_url for a refused download (AccessDenied carries decision and ref)."""
    return apply_url(getattr(exc, "decision", None), getattr(exc, "ref", None), external=external)


def with_apply_sentence(message: str, url: str | None) -> str:
    """The refusal's sentence, followed by where to apply when an application cures it."""
    return f"{message} Apply for access at {url}" if url else message
