"""The one way a door (the native API, the Hugging Face resolve) turns a request for a
file into a link: the fast path when the request carries a well-formed Bearer token on
PostgreSQL (downloads.fastpath), the full ORM path (downloads.services) otherwise or
when the fast path hands the request on. Both decide with the one policy and record
the same events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, request

from distserver.accounts.sessions import client_address, current_principal
from distserver.app_runtime import current_runtime
from distserver.downloads.fastpath import issue_link, request_token
from distserver.downloads.services import locate, request_link
from distserver.downloads.signing import IssuedLink
from distserver.extensions import db
from distserver.identity import Principal
from distserver.urls import external_base

# Where a request the fast door (distserver.fastdoors) handed to Flask carries the fast
# path's outcome, so the fast path never runs twice for one request.
HANDED_KEY = "distserver.fastdoors.handed"


@dataclass(frozen=True)
class Handed:
    """What the fast door learnt before handing a request to Flask: the error to
    raise in the view (None: the fast path declined, take the full path) and the
    revision it resolved (the Hugging Face door names it in a missing-file error)."""

    error: BaseException | None = None
    commit: str | None = None


def link_for_request(
    namespace: str,
    name: str,
    rev: str | None,
    path: str,
    *,
    door: str,
    principal: Principal | None = None,
    on_revision: Callable[[str], None] | None = None,
) -> IssuedLink:
    """A link for `path` of `namespace/name` at `rev`, or AccessDenied / NotFound.
    `principal`: the caller when the door has already authenticated it;
    `on_revision(commit)` is called once the revision is known (refusals included)."""
    rt = current_runtime()
    base_url = external_base() + "/"
    raw = request_token()
    handed: Handed | None = request.environ.get(HANDED_KEY)
    if handed is not None:
        # The fast door in front of Flask ran the fast path already: raise what it
        # raised (its refusal is recorded), or take the full path if it declined.
        if on_revision is not None and handed.commit is not None:
            on_revision(handed.commit)
        if handed.error is not None:
            raise handed.error
    elif raw is not None:
        link = issue_link(
            current_app,
            rt,
            raw,
            namespace=namespace,
            name=name,
            rev=rev,
            path=path,
            door=door,
            base_url=base_url,
            address=client_address(),
            user_agent=request.headers.get("User-Agent"),
            on_revision=on_revision,
        )
        if link is not None:
            return link
    target = locate(db.session, namespace, name, rev, path)
    if on_revision is not None and target.revision is not None:
        on_revision(target.revision.commit)
    return request_link(
        db.session,
        rt,
        principal or current_principal(),
        target,
        door=door,
        base_url=base_url,
        path=path,
    )
