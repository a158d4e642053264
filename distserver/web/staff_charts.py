"""Server-rendered charts for the audit pages and a model's statistics: downloads per
day, stacked by tier, door or model, as geometry for an <svg> in the template (no
script, no inline style), plus the same numbers as a table for people who cannot see
the chart."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from distserver.audit.queries import DailyCount
from distserver.downloads.statistics import DOOR_TITLES, ModelStatistics

# Colours with at least 3:1 contrast against white (WCAG 1.4.11 for graphics).
PALETTE = ("#2457c5", "#c2410c", "#1f6b35", "#7c3aed", "#a1261a", "#0e7490")
OTHER_COLOUR = "#5b6574"
MAX_SERIES = len(PALETTE)
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 58


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    fill: str
    label: str  # the <title> tooltip: "2026-01-31, researcher: 4"


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    days: list[date]
    series: list[tuple[str, str]]  # (name, colour), in legend order
    table: list[tuple[date, list[int], int]]  # day, count per series, total
    total: int
    bars: list[Bar] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_bottom: int = HEIGHT - BOTTOM
    legend_y: int = HEIGHT - 14


def _series(counts: list[DailyCount]) -> tuple[list[str], dict[str, str]]:
    """The largest keys get their own colour; the rest are folded into "other"."""
    totals: dict[str, int] = defaultdict(int)
    for c in counts:
        totals[c.key] += c.count
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    if len(ranked) <= MAX_SERIES:
        return ranked, {k: k for k in ranked}
    kept = ranked[: MAX_SERIES - 1]
    fold = {k: (k if k in kept else "other") for k in ranked}
    return [*kept, "other"], fold


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4
    return value


def daily_chart(
    chart_id: str, title: str, counts: list[DailyCount], today: date, days: int = 30
) -> Chart:
    """A stacked bar per day from `today - days + 1` to `today`."""
    span = [today - timedelta(days=days - 1 - i) for i in range(days)]
    names, fold = _series(counts)
    index = {name: i for i, name in enumerate(names)}
    grid: dict[date, list[int]] = {d: [0] * len(names) for d in span}
    for c in counts:
        if c.day in grid:
            grid[c.day][index[fold[c.key]]] += c.count
    folded = len(names) > len(set(fold.values()) - {"other"})
    colours = [
        (name, OTHER_COLOUR if folded and i == len(names) - 1 else PALETTE[i])
        for i, name in enumerate(names)
    ]
    table = [(d, grid[d], sum(grid[d])) for d in span]
    total = sum(t for _, _, t in table)
    top = _nice_max(max((t for _, _, t in table), default=0) or 1)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / days
    bars: list[Bar] = []
    for i, (d, row, _) in enumerate(table):
        y = float(HEIGHT - BOTTOM)
        for (name, colour), n in zip(colours, row, strict=True):
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            label = f"{d.isoformat()}, {name}: {n}"
            bars.append(
                Bar(
                    round(LEFT + i * slot + 1, 1),
                    round(y, 1),
                    round(slot - 2, 1),
                    round(h, 1),
                    colour,
                    label,
                )
            )
    y_ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_h * q / 4, 1), str(top * q // 4)) for q in range(5)
    ]
    x_ticks = [
        Tick(round(LEFT + (i + 0.5) * slot, 1), span[i].strftime("%m-%d"))
        for i in range(0, days, 5)
    ]
    first, last = span[0].isoformat(), span[-1].isoformat()
    description = (
        f"{total} download links issued from {first} to {last}, stacked per day by "
        f"{', '.join(names) if names else 'nothing (no downloads)'}. "
        "The table below has the figures."
    )
    return Chart(chart_id, title, description, span, colours, table, total, bars, y_ticks, x_ticks)


def statistics_charts(stats: ModelStatistics) -> list[Chart]:
    """A model's downloads per day, once by tier and once by door (named as people say
    them), over the statistics' window."""
    doors = [DailyCount(c.day, DOOR_TITLES.get(c.key, c.key), c.count) for c in stats.by_door]
    return [
        daily_chart(
            f"stats-{by}",
            f"Downloads of {stats.ref} per day by {by}, last {stats.days} days",
            counts,
            stats.last_day,
            stats.days,
        )
        for by, counts in (("tier", stats.by_tier), ("door", doors))
    ]
