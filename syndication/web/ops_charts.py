"""The /ops charts: operators' figures over the last 24 h as small inline SVG, drawn on the server.

Pure functions only: samples (rows of ops_samples, syndication.operations.ops.take_samples) are shaped into charts,
and a chart into an SVG string; no script runs in the browser, and nothing is loaded from anywhere.
Two kinds: hourly stacked bars (items received / published per partner, poll errors per source) and lines
over time (republish lag, queue depth).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import NamedTuple

HOUR = timedelta(hours=1)
SLOT_END = timedelta(microseconds=1)
SAMPLED = "sampled"  # syndication.operations.ops.SAMPLED: the marker row of a counted slot
UNSAMPLED_FILL = "#ececec"
# Round spans for a time axis: 10 s ... 1 h ... 1 d ... 30 d (seconds).
NICE_SPANS = (10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 4 * 3600, 6 * 3600, 12 * 3600, 86400,
              2 * 86400, 4 * 86400, 7 * 86400, 14 * 86400, 30 * 86400)
MOST_SERIES = 8  # bar series drawn apart; the rest are stacked as one ("n others")
# Colour-blind-safe categorical palette (Okabe & Ito), then greys; cycled past its end.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
           "#999999", "#666666")

# Geometry of every chart, in SVG user units (the SVG scales to its box; text stays legible down to ~400 px).
WIDTH = 400
PLOT_TOP = 8
PLOT_HEIGHT = 100
PLOT_LEFT = 46
PLOT_RIGHT = 12
AXIS_SPACE = 22  # below the plot: the hour labels
LEGEND_ROW = 16
CHAR_WIDTH = 6.2  # average width of an 11 px sans-serif character: enough to lay the legend out in rows


class Sample(NamedTuple):
    """One figure at one time (a row of ops_samples; a tuple: a day of them may be tens of thousands)."""

    taken_at: datetime
    metric: str
    subject: str
    value: float


@dataclass(frozen=True, slots=True)
class BarSeries:
    label: str
    values: tuple[float, ...]  # one per hour of the chart


@dataclass(frozen=True, slots=True)
class BarChart:
    """Hourly totals, stacked by subject."""

    title: str
    unit: str  # what one counts: "items", "errors"
    hours: tuple[datetime, ...]  # the start of each hour, oldest first
    series: tuple[BarSeries, ...]
    # Per hour: was any slot of it sampled? (None: not known.) An hour nobody sampled is shaded, not shown as 0.
    sampled: tuple[bool, ...] | None = None


@dataclass(frozen=True, slots=True)
class LineSeries:
    label: str
    points: tuple[tuple[datetime, float], ...]  # oldest first


@dataclass(frozen=True, slots=True)
class LineChart:
    """Values over time; a line breaks where samples are missing (longer than `gap` apart)."""

    title: str
    unit: str  # "seconds" draws durations (45s, 3h 5m); anything else plain numbers
    start: datetime
    end: datetime
    gap: timedelta
    series: tuple[LineSeries, ...]


# ---------------------------------------------------------------- shaping samples into charts


def last_hours(now: datetime, hours: int = 24) -> tuple[datetime, ...]:
    """The starts of the last `hours` hours, the current (partial) one last."""
    current = now.replace(minute=0, second=0, microsecond=0)
    return tuple(current - HOUR * (hours - 1 - i) for i in range(hours))


def hourly_bars(title: str, unit: str, samples: Iterable[Sample], metric: str, hours: tuple[datetime, ...],
                label: Callable[[str], str] = str, most: int = MOST_SERIES) -> BarChart:
    """Sum a metric's samples per subject per hour; subjects with the most in all come first, and past the
    `most` biggest the rest are one series ("12 others"): a stack of fifty colours tells nobody anything."""
    index = {h: i for i, h in enumerate(hours)}
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(hours))
    sampled = [False] * len(hours)
    for s in samples:
        if s.metric != metric and s.metric != SAMPLED:
            continue
        # A count is stored at its slot's end: the slot ending at 11:00 is 10:55-11:00, in the 10:00 bar.
        i = index.get((s.taken_at - SLOT_END).replace(minute=0, second=0, microsecond=0))
        if i is None:
            continue
        if s.metric == SAMPLED:
            sampled[i] = True
        else:
            sums[s.subject][i] += s.value
    ranked = sorted(sums.items(), key=lambda kv: (-sum(kv[1]), label(kv[0])))
    series = [BarSeries(label(subject), tuple(v)) for subject, v in ranked]
    if len(series) > most:
        rest = series[most - 1:]
        others = BarSeries(f"{len(rest)} others", tuple(sum(col) for col in zip(*(s.values for s in rest),
                                                                                  strict=True)))
        series = series[:most - 1] + [others]
    return BarChart(title, unit, hours, tuple(series), tuple(sampled))


def lines(title: str, unit: str, samples: Iterable[Sample], metrics: dict[str, str], start: datetime,
          end: datetime, gap: timedelta, by_subject: bool = False) -> LineChart:
    """One line per metric (named by `metrics`: metric -> label), or per subject of the metrics when
    `by_subject` (queue depth: one line per queue)."""
    points: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for s in sorted(samples, key=lambda s: s.taken_at):
        if s.metric in metrics and start <= s.taken_at <= end:
            points[s.subject if by_subject else metrics[s.metric]].append((s.taken_at, s.value))
    order = sorted(points) if by_subject else [m for m in metrics.values() if m in points]
    return LineChart(title, unit, start, end, gap, tuple(LineSeries(k, tuple(points[k])) for k in order))


# ---------------------------------------------------------------- drawing


def nice_ceiling(value: float, unit: str = "") -> float:
    """The top of a y axis a person reads at a glance: the smallest 2, 4, 6, 8 or 10 × 10^k at or above
    `value` (so the middle line is a whole number too), or for durations a round span (NICE_SPANS)."""
    if unit == "seconds":
        return float(next((span for span in NICE_SPANS if value <= span), 0) or nice_ceiling(value / 86400) * 86400)
    if value <= 2:
        return 2.0
    power = 10 ** math.floor(math.log10(value))
    for step in (2, 4, 6, 8, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def duration(seconds: float | None) -> str:
    """A span as a person says it: "6 s", "12 min", "3 h 5 min", "2 d 4 h" ("-" when unknown)."""
    if seconds is None:
        return "-"
    s = int(round(abs(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def _fmt(value: float, unit: str) -> str:
    if unit == "seconds":
        return duration(value)
    return f"{value:.0f}" if float(value).is_integer() or abs(value) >= 10 else f"{value:.1f}"


def _legend(labels: list[str], top: float, colours: list[str] | None = None) -> tuple[list[str], float]:
    """Swatches and labels in rows under the plot; returns the SVG parts and the height used."""
    parts: list[str] = []
    x, y = float(PLOT_LEFT), top
    for i, text in enumerate(labels):
        width = 14 + len(text) * CHAR_WIDTH + 14
        if x + width > WIDTH - PLOT_RIGHT and x > PLOT_LEFT:
            x, y = float(PLOT_LEFT), y + LEGEND_ROW
        colour = colours[i] if colours else PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" rx="2" fill="{colour}"/>'
                     f'<text x="{x + 14:.1f}" y="{y:.1f}">{escape(text)}</text>')
        x += width
    return parts, (y - top + LEGEND_ROW) if labels else 0.0


def _frame(top: float, unit: str, ymax: float, x_labels: list[tuple[float, str]]) -> list[str]:
    """Grid lines with their values (0, half, top) and the time labels under the plot."""
    parts = []
    for frac in (0.0, 0.5, 1.0):
        y = top + PLOT_HEIGHT * (1 - frac)
        parts.append(f'<line class="grid" x1="{PLOT_LEFT}" x2="{WIDTH - PLOT_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text class="y" x="{PLOT_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(_fmt(ymax * frac, unit))}</text>")
    for x, text in x_labels:
        parts.append(f'<text class="x" x="{x:.1f}" y="{top + PLOT_HEIGHT + 15:.1f}" text-anchor="middle">'
                     f"{escape(text)}</text>")
    return parts


def _svg(chart_id: str, title: str, body: list[str], height: float) -> str:
    return (f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-label="{escape(title)}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" xmlns="http://www.w3.org/2000/svg">'
            f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _empty(top: float, text: str) -> str:
    x = PLOT_LEFT + (WIDTH - PLOT_LEFT - PLOT_RIGHT) / 2
    return f'<text class="empty" x="{x:.1f}" y="{top + PLOT_HEIGHT / 2:.1f}" text-anchor="middle">{escape(text)}</text>'


def render_bars(chart: BarChart, chart_id: str) -> str:
    """Stacked hourly bars as an SVG string; every bar segment names its subject, hour and count on hover."""
    n = len(chart.hours)
    plot_width = WIDTH - PLOT_LEFT - PLOT_RIGHT
    slot = plot_width / max(n, 1)
    totals = [sum(s.values[i] for s in chart.series) for i in range(n)]
    ymax = nice_ceiling(max(totals, default=0.0), chart.unit)
    top = PLOT_TOP
    x_labels = [(PLOT_LEFT + slot * i, h.strftime("%H:%M")) for i, h in enumerate(chart.hours) if h.hour % 6 == 0]
    body = _frame(top, chart.unit, ymax, x_labels)
    unsampled = [i for i in range(n) if chart.sampled is not None and not chart.sampled[i]]
    runs: list[list[int]] = []  # consecutive hours shade as one band (no seams between them)
    for i in unsampled:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    for run in runs:
        start, end = chart.hours[run[0]], chart.hours[run[-1]] + HOUR
        tip = f"{start:%H:%M}–{end:%H:%M} UTC: not sampled (no scheduler was running)"
        body.append(f'<rect class="unsampled" x="{PLOT_LEFT + slot * run[0]:.1f}" y="{top}" '
                    f'width="{slot * len(run):.1f}" height="{PLOT_HEIGHT}" fill="{UNSAMPLED_FILL}">'
                    f"<title>{escape(tip)}</title></rect>")
    base = [float(top + PLOT_HEIGHT)] * n
    for k, series in enumerate(chart.series):
        colour = PALETTE[k % len(PALETTE)]
        for i, value in enumerate(series.values):
            if value <= 0:
                continue
            h = PLOT_HEIGHT * value / ymax
            base[i] -= h
            start = chart.hours[i]
            tip = (f"{series.label} · {start:%H:%M}–{start + HOUR:%H:%M} UTC: "
                   f"{_fmt(value, chart.unit)} {chart.unit}")
            body.append(f'<rect x="{PLOT_LEFT + slot * i + 1:.1f}" y="{base[i]:.1f}" width="{max(slot - 2, 1):.1f}" '
                        f'height="{h:.1f}" fill="{colour}"><title>{escape(tip)}</title></rect>')
    if len(unsampled) == n:
        body.append(_empty(top, "no samples yet"))
    elif not any(totals):
        body.append(_empty(top, f"no {chart.unit} in the last {n} h"))
    labels = [s.label for s in chart.series]
    colours = [PALETTE[k % len(PALETTE)] for k in range(len(labels))]
    if unsampled:
        labels, colours = labels + ["not sampled"], colours + [UNSAMPLED_FILL]
    legend, used = _legend(labels, top + PLOT_HEIGHT + AXIS_SPACE + 12, colours)
    return _svg(chart_id, chart.title, body + legend, top + PLOT_HEIGHT + AXIS_SPACE + used + 6)


def render_lines(chart: LineChart, chart_id: str) -> str:
    """Lines over [start, end] as an SVG string, broken where samples are missing; each line names its
    newest and highest value on hover."""
    span = max((chart.end - chart.start).total_seconds(), 1.0)
    plot_width = WIDTH - PLOT_LEFT - PLOT_RIGHT
    top = PLOT_TOP
    ymax = nice_ceiling(max((v for s in chart.series for _, v in s.points), default=0.0), chart.unit)

    def x_of(at: datetime) -> float:
        return PLOT_LEFT + plot_width * (at - chart.start).total_seconds() / span

    def y_of(value: float) -> float:
        return top + PLOT_HEIGHT * (1 - min(max(value, 0.0), ymax) / ymax)

    first_label = chart.start.replace(minute=0, second=0, microsecond=0) + HOUR
    ticks = [first_label + HOUR * i for i in range(int(span // 3600) + 1)]
    x_labels = [(x_of(t), t.strftime("%H:%M")) for t in ticks if t <= chart.end and t.hour % 6 == 0]
    body = _frame(top, chart.unit, ymax, x_labels)
    for k, series in enumerate(chart.series):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[tuple[datetime, float]]] = []
        for at, value in series.points:
            if not runs or at - runs[-1][-1][0] > chart.gap:
                runs.append([])
            runs[-1].append((at, value))
        newest = series.points[-1]
        tip = (f"{series.label}: now {_fmt(newest[1], chart.unit)}, highest "
               f"{_fmt(max(v for _, v in series.points), chart.unit)}")
        body.append(f'<g class="series" stroke="{colour}" fill="{colour}"><title>{escape(tip)}</title>')
        for run in runs:
            if len(run) == 1:
                at, value = run[0]
                body.append(f'<circle cx="{x_of(at):.1f}" cy="{y_of(value):.1f}" r="2"/>')
            else:
                pts = " ".join(f"{x_of(at):.1f},{y_of(value):.1f}" for at, value in run)
                body.append(f'<polyline points="{pts}" fill="none" stroke-width="1.8" stroke-linejoin="round"/>')
        body.append("</g>")
    if not chart.series:
        body.append(_empty(top, "no samples yet"))
    legend, used = _legend([s.label for s in chart.series], top + PLOT_HEIGHT + AXIS_SPACE + 12)
    return _svg(chart_id, chart.title, body + legend, top + PLOT_HEIGHT + AXIS_SPACE + used + 6)


# ---------------------------------------------------------------- the dashboard's charts


@dataclass(frozen=True, slots=True)
class Drawn:
    id: str
    title: str
    svg: str


def dashboard_charts(samples: list[Sample], now: datetime, sample_seconds: int,
                     source_labels: dict[str, str]) -> list[Drawn]:
    """What /ops draws over the last 24 h, from the samples: items received and published per partner per
    hour, poll errors per source per hour, republish lag, queue depth."""
    hours = last_hours(now)
    start = now - timedelta(hours=24)
    # A line breaks where more than two samples in a row are missing (the scheduler was down).
    gap = timedelta(seconds=sample_seconds * 2.5)
    charts: list[tuple[str, BarChart | LineChart]] = [
        ("chart-received", hourly_bars("Items received per hour, by partner", "items", samples, "received", hours)),
        ("chart-published", hourly_bars("Items republished per hour, by partner", "items", samples, "published",
                                        hours)),
        ("chart-errors", hourly_bars("Poll errors per hour, by source", "errors", samples, "errors", hours,
                                     label=lambda sid: source_labels.get(sid, f"source {sid}"))),
        ("chart-lag", lines("Republish lag after the partner's publish time", "seconds", samples,
                            {"republish_lag_p50": "median", "republish_lag_p95": "95th percentile"}, start, now,
                            gap)),
        ("chart-queues", lines("Jobs waiting, by queue", "jobs", samples, {"queue_depth": "depth"}, start, now, gap,
                               by_subject=True)),
    ]
    return [Drawn(cid, c.title, render_bars(c, cid) if isinstance(c, BarChart) else render_lines(c, cid))
            for cid, c in charts]
