"""The home page: a dashboard per role for signed-in people (researchers: their
applications, grants and recent downloads; reviewers: their queue; safety: models
waiting on their sign-off; auditors: the latest activity; admins: all of it), and a
welcome with the catalog's entry points for visitors."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from distserver.accounts.sessions import current_principal
from distserver.app_runtime import current_runtime
from distserver.extensions import db
from distserver.web import queries, web

REVIEW_ROLES = frozenset({"reviewer", "admin"})
SAFETY_ROLES = frozenset({"safety", "admin"})
AUDIT_ROLES = frozenset({"auditor", "admin"})


@web.get("/")
def home() -> str:
    if not current_user.is_authenticated:
        return render_template("home.html", board=None)
    principal = current_principal()
    roles = principal.roles
    uid = current_user.id
    board: dict[str, object] = {
        "applications": queries.my_applications(db.session, uid),
        "grants": queries.my_grants(db.session, uid),
        "downloads": queries.recent_downloads(db.session, uid),
    }
    if roles & REVIEW_ROLES:
        board["queue"] = queries.pending_summary(db.session)
    if roles & SAFETY_ROLES:
        board["signoff"] = queries.awaiting_signoff(db.session, uid, current_runtime().plans)
    if roles & AUDIT_ROLES:
        board["activity"] = queries.latest_activity(db.session)
    return render_template("home.html", board=board)
