"""How the Hugging Face door phrases a refusal: the one place where a policy Decision
(or any domain error) becomes the Hub's error headers, so that `huggingface_hub`
raises its own error classes carrying our sentence.

    Decision                          X-Error-Code      status
    not_found, missing="model"        RepoNotFound      404  (an invisible model looks the same)
    not_found, missing="revision"     RevisionNotFound  404
    not_found, missing="file"         EntryNotFound     404
    any other refusal                 GatedRepo         401 without credentials, 403 with
    a marked copy not ready yet       (none)            503 with Retry-After

`X-Error-Message` carries the same sentence as the native API; the body is
`{"error": message}` as the Hub sends it.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from distserver.access.apply_links import apply_url, with_apply_sentence
from distserver.access.policy import Decision
from distserver.accounts.sessions import current_principal
from distserver.downloads.services import AccessDenied
from distserver.errors import DistserverError
from distserver.fingerprint.preparation import CopyInPreparation
from distserver.hf.shapes import HubError
from distserver.identity import Principal

MISSING_CODES = {
    "model": "RepoNotFound",
    "revision": "RevisionNotFound",
    "file": "EntryNotFound",
}
# huggingface_hub treats a 401 with this exact message as a bad token rather than a
# missing repository (utils/_http.py, hf_raise_for_status).
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
# Set by a view once it knows the commit, so an EntryNotFound can carry X-Repo-Commit
# (the client caches "no such file at this commit" with it).
COMMIT_KEY = "hf_commit"


def not_found(missing: str, message: str) -> AccessDenied:
    """A not-found refusal in the policy's own terms, for the metadata endpoints."""
    return AccessDenied(Decision.deny("not_found", message, missing=missing))


def hub_error(
    status: int,
    code: str | None,
    message: str,
    *,
    header: str | None = None,
    commit: str | None = None,
) -> Response:
    body: HubError = {"error": message}
    response = jsonify(body)
    response.status_code = status
    if code:
        response.headers["X-Error-Code"] = code
    # Header values are latin-1 on the wire; the body keeps the exact sentence.
    header = header or message
    response.headers["X-Error-Message"] = header.encode("latin-1", "replace").decode("latin-1")
    if commit:
        response.headers["X-Repo-Commit"] = commit
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal(decision: Decision, principal: Principal | None, ref: str | None = None) -> Response:
    """The Hub's answer to a refused Decision. A refusal an application can cure says
    where to apply, as the Hub's own refusal says where to request access."""
    message = with_apply_sentence(decision.message or "Access refused.", apply_url(decision, ref))
    if decision.reason == "not_found":
        code = MISSING_CODES.get(decision.missing or "model", "RepoNotFound")
        # Only a visible model's missing file may say which commit was searched.
        commit = g.get(COMMIT_KEY) if decision.missing == "file" else None
        return hub_error(404, code, message, commit=commit)
    status = 401 if principal is None or principal.anonymous else 403
    return hub_error(status, "GatedRepo", message)


def register_refusals(bp: Blueprint) -> None:
    """Attach the mapping to the door's blueprint, so every view of this door refuses
    the same way and nothing here leaks into the native API's error handling."""

    def current() -> Principal | None:
        try:
            return current_principal()
        except DistserverError:
            return None

    @bp.errorhandler(AccessDenied)
    def access_denied(exc: AccessDenied) -> Response:
        return refusal(exc.decision, current(), exc.ref)

    @bp.errorhandler(CopyInPreparation)
    def copy_in_preparation(exc: CopyInPreparation) -> Response:
        # huggingface_hub retries a 503 (five times, sleeping Retry-After + 1 s between
        # tries) before it raises with our sentence; see docs/huggingface.md.
        response = hub_error(503, None, exc.message)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @bp.errorhandler(DistserverError)
    def domain_error(exc: DistserverError) -> Response:
        if exc.status == 401:
            return hub_error(401, None, exc.message, header=INVALID_CREDENTIALS)
        return hub_error(exc.status, None, exc.message)

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return hub_error(exc.code or 500, None, exc.description or exc.name)
