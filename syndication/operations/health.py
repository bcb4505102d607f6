"""Pure computations for operators: source state (incl. "quiet"), percentiles, overdue sources, windows.

No I/O and no clock: every function takes rows (plain values) and `now`. syndication.operations.ops is the shell
that reads the rows from the database and feeds them here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

STATES = ("ok", "failing", "disabled", "quiet")

# A source is "quiet" when its silence is far longer than its usual gap between items:
QUIET_MIN_ITEMS = 5  # at least this many items (4 gaps) before we claim to know a "usual" gap
QUIET_HISTORY = 50  # look at the newest N publish times only (recent habits matter)
QUIET_FACTOR = 5.0  # silence > 5 x the median gap ...
QUIET_TAIL_FACTOR = 2.0  # ... and > 2 x the 90th-percentile gap (a bursty source's long lulls are normal)
QUIET_MIN_SILENCE = timedelta(hours=1)  # ... and > 1 hour ...
QUIET_POLL_FACTOR = 3.0  # ... and > 3 poll intervals (we cannot see items faster than we poll)


@dataclass(frozen=True, slots=True)
class QuietVerdict:
    quiet: bool
    silence_seconds: float | None  # now - newest publish time
    usual_gap_seconds: float | None  # median gap between consecutive items
    threshold_seconds: float | None  # silence beyond this is "quiet"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi:
        return float(data[lo])
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def quiet_verdict(publish_times: Iterable[datetime], now: datetime, interval_seconds: int) -> QuietVerdict:
    """Has a source that usually publishes gone silent for far longer than its usual gap?

    `publish_times` are the partner's publish times (any order) of the source's items.
    """
    times = sorted(t for t in publish_times if t <= now)[-QUIET_HISTORY:]
    if not times:
        return QuietVerdict(False, None, None, None)
    silence = (now - times[-1]).total_seconds()
    if len(times) < QUIET_MIN_ITEMS:
        return QuietVerdict(False, silence, None, None)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    gaps = [g for g in gaps if g > 0] or [0.0]
    median = percentile(gaps, 50) or 0.0
    p90 = percentile(gaps, 90) or 0.0
    threshold = max(QUIET_FACTOR * median, QUIET_TAIL_FACTOR * p90, QUIET_MIN_SILENCE.total_seconds(),
                    QUIET_POLL_FACTOR * interval_seconds)
    return QuietVerdict(silence > threshold, silence, median, threshold)


def source_state(*, enabled: bool, consecutive_errors: int, quiet: bool) -> str:
    """disabled > failing > quiet > ok."""
    if not enabled:
        return "disabled"
    if consecutive_errors:
        return "failing"
    return "quiet" if quiet else "ok"


def overdue_grace(tick_seconds: float) -> timedelta:
    """How late a due poll may start before it counts as overdue (a few scheduler ticks)."""
    return timedelta(seconds=max(30.0, 5 * tick_seconds))


def is_overdue(
    *, enabled: bool, polled: bool, next_poll_at: datetime | None, lease_expires_at: datetime | None,
    now: datetime, grace: timedelta,
) -> bool:
    """Due (past next_poll_at + grace) but not being polled: the saturation signal."""
    if not enabled or not polled or next_poll_at is None:
        return False
    if lease_expires_at is not None and lease_expires_at >= now:
        return False  # claimed and in flight (or queued): not overdue until its lease runs out
    return next_poll_at + grace < now


def overdue_seconds(next_poll_at: datetime | None, now: datetime) -> float:
    return max(0.0, (now - next_poll_at).total_seconds()) if next_poll_at else 0.0


def lag_summary(lags: Iterable[float]) -> dict[str, float | int | None]:
    """p50 / p95 / count of lags in seconds (negative lags, e.g. future publish times, count as 0)."""
    data = [max(0.0, x) for x in lags]
    p50, p95 = percentile(data, 50), percentile(data, 95)
    return {"p50": None if p50 is None else round(p50, 3), "p95": None if p95 is None else round(p95, 3),
            "count": len(data)}


@dataclass(frozen=True, slots=True)
class Bucketed:
    buckets: list[tuple[float, int]]  # cumulative (upper bound, count), +Inf last
    count: int
    total: float


def histogram(values: Iterable[float], bounds: Sequence[float]) -> Bucketed:
    """Cumulative Prometheus-style buckets over values."""
    counts = [0] * len(bounds)
    n, total = 0, 0.0
    for v in values:
        n += 1
        total += v
        for i, b in enumerate(bounds):
            if v <= b:
                counts[i] += 1
    out = [(float(b), c) for b, c in zip(bounds, counts, strict=True)]
    out.append((math.inf, n))
    return Bucketed(out, n, total)
