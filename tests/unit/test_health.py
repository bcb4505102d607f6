"""Pure operator computations: quiet sources, percentiles, overdue, state precedence, histograms."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from syndication.kernel.clock import human_age
from syndication.kernel.logs import JsonFormatter
from syndication.operations import health

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def hourly(n: int, last: datetime) -> list[datetime]:
    return [last - timedelta(hours=i) for i in range(n)]


def test_regular_source_silent_for_many_gaps_is_quiet() -> None:
    # Published every hour for two days, nothing for the last 9 hours: far beyond the usual 1 h gap.
    v = health.quiet_verdict(hourly(48, NOW - timedelta(hours=9)), NOW, interval_seconds=300)
    assert v.quiet
    assert v.usual_gap_seconds == 3600
    assert v.threshold_seconds == 5 * 3600
    assert v.silence_seconds == 9 * 3600


def test_regular_source_within_its_rhythm_is_not_quiet() -> None:
    v = health.quiet_verdict(hourly(48, NOW - timedelta(hours=4)), NOW, interval_seconds=300)
    assert not v.quiet and v.silence_seconds == 4 * 3600


def test_too_little_history_is_never_quiet() -> None:
    times = hourly(health.QUIET_MIN_ITEMS - 1, NOW - timedelta(days=30))
    assert not health.quiet_verdict(times, NOW, 300).quiet
    assert not health.quiet_verdict([], NOW, 300).quiet


def test_bursty_source_long_lulls_are_normal() -> None:
    # Bursts of 5 items a minute apart, a burst every 12 h: median gap 1 min, but the 12 h lulls are its habit.
    times = [NOW - timedelta(hours=13 + 12 * b, minutes=m) for b in range(6) for m in range(5)]
    v = health.quiet_verdict(times, NOW, 300)
    assert not v.quiet  # 13 h of silence < 2 x the 90th-percentile gap (~12 h)
    assert health.quiet_verdict(times, NOW + timedelta(hours=20), 300).quiet


def test_quiet_threshold_respects_poll_interval_and_minimum() -> None:
    # Items every minute, polled every 6 h: silence of 10 h is within 3 polls (18 h), not quiet.
    times = [NOW - timedelta(hours=10, minutes=i) for i in range(20)]
    assert not health.quiet_verdict(times, NOW, 6 * 3600).quiet
    # The 1 h floor: items every 10 s, silent 30 min -> not quiet.
    times = [NOW - timedelta(minutes=30, seconds=10 * i) for i in range(20)]
    assert not health.quiet_verdict(times, NOW, 60).quiet


def test_future_publish_times_are_ignored() -> None:
    times = hourly(24, NOW - timedelta(hours=10)) + [NOW + timedelta(days=1)]
    v = health.quiet_verdict(times, NOW, 300)
    assert v.quiet and v.silence_seconds == 10 * 3600


def test_state_precedence() -> None:
    assert health.source_state(enabled=False, consecutive_errors=3, quiet=True) == "disabled"
    assert health.source_state(enabled=True, consecutive_errors=1, quiet=True) == "failing"
    assert health.source_state(enabled=True, consecutive_errors=0, quiet=True) == "quiet"
    assert health.source_state(enabled=True, consecutive_errors=0, quiet=False) == "ok"


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([], 50, None), ([7], 95, 7.0), ([1, 2, 3, 4], 50, 2.5), ([10, 0, 5], 50, 5.0), (list(range(101)), 95, 95.0),
])
def test_percentile(values: list[float], q: float, expected: float | None) -> None:
    assert health.percentile(values, q) == expected


def test_lag_summary_clamps_negative_lags() -> None:
    assert health.lag_summary([-30, 10, 20, 30]) == {"p50": 15.0, "p95": 28.5, "count": 4}
    assert health.lag_summary([]) == {"p50": None, "p95": None, "count": 0}


def test_overdue_needs_due_plus_grace_and_no_live_lease() -> None:
    grace = health.overdue_grace(2.0)
    assert grace == timedelta(seconds=30)
    kw = {"enabled": True, "polled": True, "now": NOW, "grace": grace}
    assert health.is_overdue(next_poll_at=NOW - timedelta(minutes=5), lease_expires_at=None, **kw)
    assert not health.is_overdue(next_poll_at=NOW - timedelta(seconds=10), lease_expires_at=None, **kw)
    # claimed and in flight: not overdue until the lease expires
    assert not health.is_overdue(next_poll_at=NOW - timedelta(minutes=5), lease_expires_at=NOW + timedelta(1), **kw)
    assert health.is_overdue(next_poll_at=NOW - timedelta(minutes=5), lease_expires_at=NOW - timedelta(1), **kw)
    assert not health.is_overdue(next_poll_at=NOW - timedelta(hours=1), lease_expires_at=None,
                                 **{**kw, "enabled": False})
    assert not health.is_overdue(next_poll_at=NOW - timedelta(hours=1), lease_expires_at=None,
                                 **{**kw, "polled": False})


def test_histogram_is_cumulative() -> None:
    b = health.histogram([0.01, 0.2, 0.2, 3.0, 100.0], (0.1, 1.0, 10.0))
    assert b.buckets == [(0.1, 1), (1.0, 3), (10.0, 4), (float("inf"), 5)]
    assert b.count == 5 and b.total == pytest.approx(103.41)


def test_human_age() -> None:
    assert [human_age(x) for x in (None, 5, 125, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == \
        ["-", "5s", "2m", "3h 5m", "2d 4h"]


def test_json_log_lines_carry_context_fields() -> None:
    rec = logging.LogRecord("syndication.runtime.jobs", logging.WARNING, __file__, 1, "poll of %s failed", (7,), None)
    rec.partner, rec.source_id, rec.item_id = "turan", 7, 42
    line = json.loads(JsonFormatter().format(rec))
    assert line["message"] == "poll of 7 failed" and line["level"] == "warning"
    assert (line["partner"], line["source_id"], line["item_id"]) == ("turan", 7, 42)
    assert line["logger"] == "syndication.runtime.jobs" and line["ts"].endswith("Z")
