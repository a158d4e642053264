"""Presentation helpers for the templates: Markdown rendered safely, sizes, times,
and the release timeline read from the plan and the model's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import markdown as md
import nh3
from markupsafe import Markup

from distserver.audit.tags import EventTag
from distserver.releases.evidence import TimelineEntry
from distserver.releases.plans import Gate, Plan

MOVES = {EventTag.STAGE_PROMOTED.value, EventTag.STAGE_DEMOTED.value}


def without_front_matter(text: str) -> str:
    """A card without its YAML front matter (metadata, read by the Hugging Face door's
    card_data), as the Hub shows cards."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        for i, line in enumerate(lines[1:], start=1):
            if line.strip() == "---":
                return "".join(lines[i + 1 :])
    return text


def markdown(text: str | None) -> Markup:
    """Markdown to HTML, then sanitised with nh3 (no script, no event handlers, no
    style, links with rel=noopener): a model card or agreement cannot inject code.
    A leading YAML front matter block is metadata and is not shown."""
    html = md.markdown(
        without_front_matter(text or ""), extensions=["fenced_code", "tables", "sane_lists"]
    )
    return Markup(nh3.clean(html))  # noqa: S704  (sanitised just above)


def size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} bytes"  # pragma: no cover


def when(value: datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class StageRow:
    name: str
    title: str
    tiers: tuple[str, ...]
    status: str  # passed, current, next, later
    entered_at: datetime | None
    gate: Gate


def stages(plan: Plan, current: str, history: list[TimelineEntry]) -> list[StageRow]:
    """Each stage of the plan: passed, the current one, the next one (with its gate),
    later ones; with when the model last entered it."""
    entered: dict[str, datetime] = {}
    for entry in history:
        if entry.tag == EventTag.MODEL_CREATED.value:
            entered[plan.stages[0].name] = entry.at
        elif entry.tag in MOVES and entry.data.get("to"):
            entered[str(entry.data["to"])] = entry.at
    index = plan.index(current)
    rows = []
    for i, stage in enumerate(plan.stages):
        status = (
            "passed"
            if i < index
            else "current"
            if i == index
            else "next"
            if i == index + 1
            else "later"
        )
        rows.append(
            StageRow(
                stage.name,
                stage.title,
                stage.tiers,
                status,
                entered.get(stage.name) if i <= index else None,
                stage.gate,
            )
        )
    return rows


def revisions(history: list[TimelineEntry]) -> list[TimelineEntry]:
    """Published revisions, newest first."""
    found = [e for e in history if e.tag == EventTag.REVISION_PUBLISHED.value and e.revision]
    return list(reversed(found))


def describe(entry: TimelineEntry) -> str:
    """One line for the model's history."""
    data = entry.data
    tag = entry.tag
    if tag == EventTag.MODEL_CREATED.value:
        return f"Registered under the {data.get('plan', '')} plan"
    if tag == EventTag.REVISION_PUBLISHED.value:
        return f"Revision {(entry.revision or '')[:12]} published"
    if tag == EventTag.STAGE_PROMOTED.value:
        return f"Moved to {data.get('to')}" + (" (scheduled)" if data.get("scheduled") else "")
    if tag == EventTag.STAGE_DEMOTED.value:
        return f"Moved back to {data.get('to')}"
    if tag == EventTag.STAGE_HALTED.value:
        return f"Distribution halted: {data.get('reason', '')}"
    if tag == EventTag.STAGE_RESUMED.value:
        return "Distribution resumed"
    if tag == EventTag.EVALUATION_RECORDED.value:
        return f"Evaluation {data.get('name')} for {data.get('stage')}: {data.get('result')}"
    if tag == EventTag.SIGNOFF_RECORDED.value:
        return f"Sign-off for {data.get('stage')}"
    return tag


def init_render(app: object) -> None:
    from flask import Flask

    assert isinstance(app, Flask)
    app.add_template_filter(markdown, "markdown")
    app.add_template_filter(size, "size")
    app.add_template_filter(when, "when")
