"""Download counts read from the audit log: one `download:link:issued` event is one
file handed out, whichever door. The Hugging Face door's `downloads` field is the
count over the last 30 days, as the Hub reports it: the 30 UTC days ending today, the
window and the WHERE clause of the model's statistics (downloads.statistics), so the
two agree."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from distserver.audit.models import AuditEvent
from distserver.audit.queries import DOWNLOAD_TAG, window_start
from distserver.db import utcnow

HUB_WINDOW_DAYS = 30


def recent_downloads(
    session: Session, refs: Iterable[str], now: datetime | None = None
) -> dict[str, int]:
    """Links issued per model ref over the last 30 days (0 for a ref with none), in
    one grouped query on the (model, tag, occurred_at) index."""
    wanted = sorted(set(refs))
    counts = dict.fromkeys(wanted, 0)
    if not wanted:
        return counts
    since = window_start(now or utcnow(), HUB_WINDOW_DAYS)
    query = (
        select(AuditEvent.model, func.count())
        .where(
            AuditEvent.model.in_(wanted),
            AuditEvent.tag == DOWNLOAD_TAG,
            AuditEvent.occurred_at >= since,
        )
        .group_by(AuditEvent.model)
    )
    for ref, count in session.execute(query):
        if ref is not None:  # every link_issued event names its model
            counts[ref] = int(count)
    return counts
