"""GET /api/v1/models/{ns}/{name}/statistics: a model's download statistics for its
staff (the roles that read its release console), counted from the audit log."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from flask import Response, jsonify, request

from distserver.api import api_v1
from distserver.api.release_views import release_staff_model
from distserver.api.schemas.common import MODEL_READ, answers
from distserver.api.schemas.releases import Statistics, StatisticsQuery
from distserver.api.spec import declare
from distserver.audit.queries import DailyCount
from distserver.downloads.statistics import (
    DEFAULT_DAYS,
    MAX_DAYS,
    ModelStatistics,
    model_statistics,
)
from distserver.extensions import db
from distserver.inputs import int_arg


def _by_day(counts: list[DailyCount]) -> dict[date, dict[str, int]]:
    days: dict[date, dict[str, int]] = defaultdict(dict)
    for c in counts:
        days[c.day][c.key] = c.count
    return days


def statistics_json(stats: ModelStatistics) -> dict[str, Any]:
    """The statistics as the API answers them: every day of the window (oldest first)
    with its total and its counts by tier and by door."""
    tiers, doors = _by_day(stats.by_tier), _by_day(stats.by_door)
    span = (stats.last_day - stats.first_day).days + 1
    per_day = []
    for i in range(span):
        day = stats.first_day + timedelta(days=i)
        by_tier = dict(sorted(tiers.get(day, {}).items()))
        per_day.append(
            {
                "day": day.isoformat(),
                "downloads": sum(by_tier.values()),
                "by_tier": by_tier,
                "by_door": dict(sorted(doors.get(day, {}).items())),
            }
        )
    return {
        "id": stats.ref,
        "days": stats.days,
        "from": stats.first_day.isoformat(),
        "to": stats.last_day.isoformat(),
        "downloads": stats.total,
        "unique_recipients": stats.recipients,
        "anonymous_downloads": stats.anonymous,
        "per_day": per_day,
        "top_files": [{"path": f.path, "downloads": f.downloads} for f in stats.top_files],
    }


@api_v1.get("/models/<namespace>/<name>/statistics")
@declare("releases", answers(200, Statistics, MODEL_READ), query=StatisticsQuery)
def model_statistics_view(namespace: str, name: str) -> Response:
    """Download statistics counted from the audit log's issued links over the last
    `days` UTC days (safety, admin, auditor): per day by tier and by door, unique
    recipients, top files."""
    _, model = release_staff_model(namespace, name, write=False)
    days = int_arg(request.args, "days", DEFAULT_DAYS, 1, MAX_DAYS) or DEFAULT_DAYS
    return jsonify(statistics_json(model_statistics(db.session, model.ref, days=days)))
