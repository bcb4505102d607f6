"""[newcomer] The /ops charts are pure: samples -> charts -> SVG strings; and times read human-first."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import lxml.etree
import pytest

from syndication.kernel.clock import UTC
from syndication.web.ops import relative, when
from syndication.web.ops_charts import (
    PALETTE,
    BarChart,
    BarSeries,
    LineChart,
    LineSeries,
    Sample,
    dashboard_charts,
    duration,
    hourly_bars,
    last_hours,
    lines,
    nice_ceiling,
    render_bars,
    render_lines,
)

NOW = datetime(2026, 12, 1, 10, 7, 31, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> lxml.etree._Element:
    root = lxml.etree.fromstring(svg.encode())  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return root


def test_last_hours_end_with_the_current_one() -> None:
    hours = last_hours(NOW)
    assert len(hours) == 24
    assert hours[-1] == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert hours[0] == datetime(2026, 11, 30, 11, tzinfo=UTC)


def test_hourly_bars_sum_per_subject_and_hour_and_drop_older_samples() -> None:
    hours = last_hours(NOW)
    samples = [
        Sample(NOW.replace(minute=5), "received", "afp", 2),
        Sample(NOW.replace(minute=10), "received", "afp", 1),
        Sample(NOW.replace(minute=0, second=0), "received", "afp", 5),  # the slot ending at 10:00: the 9:00 bar
        Sample(NOW - timedelta(hours=1), "received", "ap", 4),
        Sample(NOW - timedelta(hours=30), "received", "ap", 100),  # before the chart: left out
        Sample(NOW, "published", "afp", 9),  # another metric
    ]
    chart = hourly_bars("t", "items", samples, "received", hours)
    assert [s.label for s in chart.series] == ["afp", "ap"]  # the biggest first
    afp, ap = chart.series
    assert afp.values[-1] == 3 and afp.values[-2] == 5 and sum(afp.values) == 8
    assert ap.values[-2] == 4 and sum(ap.values) == 4


def test_bars_are_drawn_to_scale_with_a_hover_text_per_segment() -> None:
    hours = last_hours(NOW)
    values = [0.0] * 24
    values[-1], values[-3] = 6.0, 3.0
    chart = BarChart("Items <received>", "items", hours, (BarSeries("a&b", tuple(values)),
                                                          BarSeries("c", tuple([1.0] * 24))))
    root = parse(render_bars(chart, "chart-x"))
    assert root.get("id") == "chart-x" and root.findtext(f"{SVG}title") == "Items <received>"
    rects = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(rects) == 2 + 24
    tall = next(r for r in rects if r.findtext(f"{SVG}title", "").startswith("a&b · 10:00–11:00 UTC: 6 items"))
    half = next(r for r in rects if r.findtext(f"{SVG}title", "").startswith("a&b · 08:00"))
    assert float(tall.get("height", 0)) == pytest.approx(2 * float(half.get("height", 0)))
    assert tall.get("fill") == PALETTE[0]
    # The axis tops out at a round number over the highest stack (6 + 1 = 7 -> 8), with a whole middle line.
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "y"]
    assert labels == ["0", "4", "8"]
    assert {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "x"} <= {"00:00", "06:00", "12:00",
                                                                                   "18:00"}
    assert "a&b" in [t.text for t in root.iter(f"{SVG}text")]  # legend, escaped in the markup


def test_an_empty_chart_says_so() -> None:
    root = parse(render_bars(BarChart("x", "errors", last_hours(NOW), ()), "c"))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "empty"] == ["no errors in the last 24 h"]
    root = parse(render_lines(LineChart("x", "jobs", NOW - timedelta(hours=24), NOW, timedelta(minutes=10), ()),
                              "c"))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "empty"] == ["no samples yet"]


def test_lines_break_where_samples_are_missing() -> None:
    start = NOW - timedelta(hours=24)
    pts = [(NOW - timedelta(minutes=m), float(m % 7)) for m in (300, 295, 290, 60, 55, 50, 45, 0)]
    chart = LineChart("Jobs", "jobs", start, NOW, timedelta(minutes=12), (LineSeries("poll", tuple(sorted(pts))),))
    root = parse(render_lines(chart, "q"))
    polylines = list(root.iter(f"{SVG}polyline"))
    circles = list(root.iter(f"{SVG}circle"))
    assert [len(p.get("points", "").split()) for p in polylines] == [3, 4]
    assert len(circles) == 1  # the lone newest sample
    xs = [float(pair.split(",")[0]) for p in polylines for pair in p.get("points", "").split()]
    assert xs == sorted(xs) and xs[-1] < float(circles[0].get("cx", 0))
    assert float(circles[0].get("cx", 0)) == pytest.approx(400 - 12)  # "now" is the right edge


def test_lines_of_durations_read_as_durations() -> None:
    start = NOW - timedelta(hours=24)
    samples = [Sample(NOW - timedelta(minutes=10), "republish_lag_p50", "", 40.0),
               Sample(NOW - timedelta(minutes=10), "republish_lag_p95", "", 250.0),
               Sample(NOW - timedelta(minutes=5), "republish_lag_p95", "", 3000.0)]
    chart = lines("Lag", "seconds", samples, {"republish_lag_p50": "median", "republish_lag_p95": "p95"}, start,
                  NOW, timedelta(minutes=15))
    assert [s.label for s in chart.series] == ["median", "p95"]
    root = parse(render_lines(chart, "lag"))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "y"] == ["0 s", "30 min", "1 h"]
    tips = [g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g")]
    assert "p95: now 50 min, highest 50 min" in tips


def test_queue_depth_is_one_line_per_queue() -> None:
    samples = [Sample(NOW - timedelta(minutes=m), "queue_depth", q, float(m)) for m in (10, 5) for q in
               ("publish", "poll")]
    chart = lines("Q", "jobs", samples, {"queue_depth": "depth"}, NOW - timedelta(hours=24), NOW,
                  timedelta(minutes=15), by_subject=True)
    assert [(s.label, [v for _, v in s.points]) for s in chart.series] == [("poll", [10.0, 5.0]),
                                                                           ("publish", [10.0, 5.0])]


def test_the_dashboard_draws_five_charts_naming_sources_by_partner() -> None:
    samples = [Sample(NOW, "errors", "7", 2.0), Sample(NOW, "received", "afp", 1.0)]
    drawn = dashboard_charts(samples, NOW, 300, {"7": "afp #7"})
    assert [d.id for d in drawn] == ["chart-received", "chart-published", "chart-errors", "chart-lag",
                                     "chart-queues"]
    for d in drawn:
        parse(d.svg)
        assert "<script" not in d.svg and "http" not in d.svg.replace("http://www.w3.org/2000/svg", "")
    assert "afp #7 · 10:00–11:00 UTC: 2 errors" in drawn[2].svg


def test_nice_ceiling_and_duration() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 2, 3, 7, 9, 11, 45, 101)] == [2, 2, 2, 4, 8, 10, 20, 60, 200]
    assert [nice_ceiling(v, "seconds") for v in (5, 45, 3000, 86400 * 40)] == [10, 60, 3600, 86400 * 40]
    assert [duration(v) for v in (None, 6, 61, 3600, 3 * 3600 + 300, 2 * 86400 + 4 * 3600, 86400)] == \
        ["-", "6 s", "1 min", "1 h", "3 h 5 min", "2 d 4 h", "1 d"]


def test_times_are_human_first_with_the_exact_time_on_hover() -> None:
    assert relative(NOW - timedelta(seconds=6), NOW) == "6 s ago"
    assert relative(NOW + timedelta(minutes=4), NOW) == "in 4 min"
    assert relative(NOW, NOW) == "just now"
    iso = (NOW - timedelta(hours=3, minutes=5)).isoformat()
    html = str(when(iso, now=NOW))
    assert re.fullmatch(r'<time datetime="[^"]+" title="2026-12-01 07:02:31 UTC">3 h 5 min ago</time>', html)
    assert 'title="2026-12-01 10:07:25 UTC">6 s ago<' in str(when("2026-12-01T10:07:25", now=NOW))  # naive: UTC
    assert str(when(None)) == '<span class="never">never</span>'
    assert "&lt;" in str(when(None, "<b>"))


def test_past_the_biggest_subjects_the_rest_stack_as_others() -> None:
    hours = last_hours(NOW)
    samples = [Sample(NOW, "received", f"p{i:02}", float(i + 1)) for i in range(12)]
    chart = hourly_bars("t", "items", samples, "received", hours, most=4)
    assert [s.label for s in chart.series] == ["p11", "p10", "p09", "9 others"]
    assert chart.series[-1].values[-1] == sum(range(1, 10))
    assert sum(s.values[-1] for s in chart.series) == sum(range(1, 13))  # nothing lost


def test_hours_nobody_sampled_are_shaded_not_drawn_as_zero() -> None:
    hours = last_hours(NOW)
    samples = [Sample(NOW.replace(minute=5), "sampled", "", 1), Sample(NOW.replace(minute=5), "received", "a", 2),
               Sample(NOW - timedelta(hours=2), "sampled", "", 1)]
    chart = hourly_bars("t", "items", samples, "received", hours)
    assert chart.sampled is not None and [i for i, s in enumerate(chart.sampled) if s] == [21, 23]
    root = parse(render_bars(chart, "c"))
    shaded = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "unsampled"]
    assert [r.findtext(f"{SVG}title") for r in shaded] == [  # two bands: 21 hours, then one
        "11:00–08:00 UTC: not sampled (no scheduler was running)",
        "09:00–10:00 UTC: not sampled (no scheduler was running)"]
    assert float(shaded[0].get("width", 0)) == pytest.approx(21 * float(shaded[1].get("width", 0)), abs=1.5)
    assert "not sampled" in [t.text for t in root.iter(f"{SVG}text")]  # in the legend
    # Nothing sampled at all: said so, rather than "no items".
    none = parse(render_bars(hourly_bars("t", "items", [], "received", hours), "c"))
    assert [t.text for t in none.iter(f"{SVG}text") if t.get("class") == "empty"] == ["no samples yet"]
    # Every hour sampled: no shading, no legend entry.
    full = [Sample(h + timedelta(minutes=5), "sampled", "", 1) for h in hours]
    svg = render_bars(hourly_bars("t", "items", full, "received", hours), "c")
    assert 'class="unsampled"' not in svg and "not sampled" not in svg
