"""Server-rendered SVG charts: geometry computed here, drawn by templates/reports/chart.html.
No chart library and no script; colours come from CSS classes (CSP allows no inline styles).
Every chart is accompanied by a table of the same numbers."""

import math
from dataclasses import dataclass
from datetime import date

from reports.selectors import Series

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class LegendItem:
    css: str
    label: str
    total: int


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    legend: list[LegendItem]
    plot_left: int
    plot_right: int
    plot_bottom: int
    empty: bool
    days: int
    table: list[tuple[date, list[int]]]


def nice_step(maximum: int, ticks: int = 4) -> int:
    """A 1-2-5 step so that `ticks` steps cover `maximum`."""
    if maximum <= ticks:
        return 1
    raw = maximum / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def stacked_bars(series: Series, *, title: str, labels: dict[str, str], css: dict[str, str]) -> Chart:
    names = [name for name in series.values if series.totals[name]]
    day_totals = [sum(series.values[name][i] for name in names) for i in range(len(series.days))]
    top = max(day_totals, default=0)
    step = nice_step(top)
    scale_max = max(step, math.ceil(top / step) * step)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(series.days))
    bar_w = max(1.0, slot * 0.7)
    bars: list[Bar] = []
    for i, day in enumerate(series.days):
        y = float(TOP + plot_h)
        for name in names:
            value = series.values[name][i]
            if not value:
                continue
            h = plot_h * value / scale_max
            y -= h
            bars.append(
                Bar(
                    x=round(LEFT + i * slot + (slot - bar_w) / 2, 2),
                    y=round(y, 2),
                    width=round(bar_w, 2),
                    height=round(h, 2),
                    css=css.get(name, "s-other"),
                    title=f"{day:%d %b}: {value:,} {labels.get(name, name)}",
                )
            )
    y_ticks = [
        (round(TOP + plot_h - plot_h * v / scale_max, 2), f"{v:,}") for v in range(0, scale_max + 1, step)
    ]
    every = max(1, math.ceil(len(series.days) / 8))
    x_labels = [
        (round(LEFT + i * slot + slot / 2, 2), f"{day:%d %b}")
        for i, day in enumerate(series.days)
        if i % every == 0
    ]
    legend = [
        LegendItem(css.get(name, "s-other"), labels.get(name, name), series.totals[name]) for name in names
    ]
    return Chart(
        title=title,
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        y_ticks=y_ticks,
        x_labels=x_labels,
        legend=legend,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_bottom=TOP + plot_h,
        empty=not bars,
        days=len(series.days),
        table=[(day, [series.values[name][i] for name in names]) for i, day in enumerate(series.days)],
    )
