"""Asking for marked copies after an access change, without importing what makes them:
the domains that change access (grants, memberships, stages, publishing) call
`plan_after_commit`, and the `fingerprint.plan` job (distserver.fingerprint.preparation)
does the work in a worker."""

from __future__ import annotations

from sqlalchemy.orm import Session

PLAN_JOB, COPY_JOB = "fingerprint.plan", "fingerprint.copy"


def plan_after_commit(
    session: Session, *, model_id: int | None = None, user_id: int | None = None
) -> None:
    """Once ``session`` commits, plan the copies the change may call for (a grant or a
    membership: pass the user; a revision or a stage: pass the model). No-op outside
    an app (plain scripts) or when no tier is fingerprinted."""
    from flask import has_app_context

    if not has_app_context():
        return
    from distserver.app_runtime import current_runtime
    from distserver.jobs import enqueue_after_commit

    if not any(t.fingerprint for t in current_runtime().tiers.values()):
        return
    enqueue_after_commit(PLAN_JOB, model_id, user_id, session=session)
