"""The overview's per-day charts, drawn on the server: the geometry of an SVG bar chart (numbers and
labels only), which templates/overview.html turns into inline SVG. No script, no external file:
the dashboard's Content-Security-Policy allows neither, and SVG's own attributes are not styles.
Each day's column has a <title>, so hovering shows its figure without JavaScript."""

from __future__ import annotations

import dataclasses
import datetime
import math
import typing

__all__ = ["Chart", "day_chart", "nice_scale", "day_label"]

WIDTH, HEIGHT = 560, 170  # the viewBox; the page scales it to its column
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 22  # room for the value labels (left) and the days (below)
MAX_BAR = 48  # a range of one day (today) draws one bar, not a wall


@dataclasses.dataclass(frozen=True)
class Column:
    x: float  # the day's slot
    width: float
    bar_x: float
    bar_width: float
    bar_y: float
    bar_height: float
    title: str  # the tooltip: the day and its figure
    drawn: bool  # False for a day without a figure (a rate of no sessions)


@dataclasses.dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclasses.dataclass(frozen=True)
class DayLabel:
    x: float
    text: str


@dataclasses.dataclass(frozen=True)
class Chart:
    key: str
    title: str
    total: str
    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    labels: tuple[DayLabel, ...]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    base: int = HEIGHT - BOTTOM


def nice_scale(largest: float) -> tuple[float, float]:
    """(top, step) of a value axis from 0: a step of 1, 2 or 5 times a power of ten, at most 4 of them
    to reach `largest` (whole numbers: these are counts)."""
    if largest <= 0:
        return 1, 1
    step = 1.0
    while True:
        for factor in (1, 2, 5):
            if math.ceil(largest / (step * factor)) <= 4:
                return math.ceil(largest / (step * factor)) * step * factor, step * factor
        step *= 10


def day_label(date: str) -> str:
    day = datetime.date.fromisoformat(date)
    return f"{day.day} {day:%b}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def day_chart(
    key: str,
    title: str,
    total: str,
    days: typing.Sequence[str],
    values: typing.Sequence[float | None],
    unit: str,
    percent: bool = False,
) -> Chart:
    """A bar per day of `values` (None: no bar); `unit` names the figure in each day's tooltip.
    A percentage's axis runs to 100."""
    top, step = (100.0, 25.0) if percent else nice_scale(max((v for v in values if v is not None), default=0))
    base, height = HEIGHT - BOTTOM, HEIGHT - BOTTOM - TOP
    slot = (WIDTH - RIGHT - LEFT) / max(len(days), 1)
    bar = min(slot * 0.72, MAX_BAR)
    columns = []
    for n, (date, value) in enumerate(zip(days, values, strict=True)):
        x = LEFT + n * slot
        shown = 0.0 if value is None else value
        bar_height = height * shown / top
        text = "no sessions" if value is None else f"{_number(value)}{'%' if percent else ''} {unit}"
        columns.append(
            Column(
                x=round(x, 2),
                width=round(slot, 2),
                bar_x=round(x + (slot - bar) / 2, 2),
                bar_width=round(bar, 2),
                bar_y=round(base - bar_height, 2),
                bar_height=round(bar_height, 2),
                title=f"{day_label(date)}: {text}",
                drawn=value is not None,
            )
        )
    ticks = tuple(
        Tick(y=round(base - height * k * step / top, 2), label=_number(k * step) + ("%" if percent else ""))
        for k in range(round(top / step) + 1)
    )
    # Every day when they are few, else a week apart counted back from the last (today).
    every = 1 if len(days) <= 8 else 7
    labels = tuple(
        DayLabel(x=round(LEFT + (n + 0.5) * slot, 2), text=day_label(date))
        for n, date in enumerate(days)
        if (len(days) - 1 - n) % every == 0
    )
    return Chart(key=key, title=title, total=total, columns=tuple(columns), ticks=ticks, labels=labels)
