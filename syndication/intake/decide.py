"""What a poll's outcome means for the source: when to poll next, at what interval, still enabled?

Pure: the clock (`now`) and the randomness (`rng`) are arguments, so every rule is unit-tested.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from syndication.retry import backoff, honouring_retry_after, parse_retry_after

WEEK = timedelta(days=7)
MIN_SPAN = timedelta(hours=1)  # a burst of items just now is not a rate
RETRY_AFTER_STATUSES = (429, 503)


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll came back with. `status` is the HTTP status (None for a network or folder error)."""

    ok: bool  # items (or a 304) came back
    status: int | None = None
    headers: Mapping[str, str] | None = None  # lower-cased response headers
    error: str | None = None
    # Published times of the entries in the document (for the adaptive interval); None = keep the interval.
    published: tuple[datetime, ...] | None = None


@dataclass(frozen=True, slots=True)
class PollDecision:
    next_poll_at: datetime
    interval: int  # current (adaptive) interval in seconds
    consecutive_errors: int
    enabled: bool = True
    disabled_reason: str | None = None
    delay: float = 0.0  # seconds until next_poll_at, for the record


def adaptive_interval(
    published: Iterable[datetime], now: datetime, minimum: int, maximum: int, window: timedelta = WEEK
) -> int:
    """How often to poll a source that published these items: the time observed divided by the items in it.

    The time observed is the window (a week) when the document reaches back beyond it; otherwise the document
    holds only the newest items, and the span from its oldest dated item to now is what was observed. So a
    source with 7 items last week is polled about daily, one whose 100 newest items cover 16 hours about every
    10 minutes. Nothing dated in the window means the maximum. Kept within [minimum, maximum].
    """
    maximum = max(minimum, maximum)
    start = now - window
    dates = [p for p in published if p <= now]
    recent = [p for p in dates if p >= start]
    if not recent:
        return maximum
    span = window if len(dates) > len(recent) else max(now - min(recent), MIN_SPAN)
    return int(min(maximum, max(minimum, span.total_seconds() / len(recent))))


def decide(
    outcome: PollOutcome,
    *,
    now: datetime,
    configured_interval: int,
    current_interval: int | None,
    consecutive_errors: int,
    backoff_cap: int,
    max_interval: int,
    rng: random.Random | None = None,
) -> PollDecision:
    """The next poll after this outcome.

    - success: errors reset; interval adapts to the publishing rate when dates came back, else stays;
    - 410 Gone: the source is disabled with that reason (no next poll until an operator re-enables it);
    - 429 / 503: Retry-After honoured (seconds or HTTP date), never earlier than the backoff;
    - any other error (404, 5xx, network, not a feed): exponential backoff with jitter, capped.
    """
    interval = current_interval or configured_interval
    if outcome.ok:
        if outcome.published is not None:
            interval = adaptive_interval(outcome.published, now, configured_interval, max_interval)
        interval = max(configured_interval, interval)
        return PollDecision(now + timedelta(seconds=interval), interval, 0, delay=float(interval))
    errors = consecutive_errors + 1
    if outcome.status == 410:
        reason = f"HTTP 410 Gone on {now.date().isoformat()}: the partner removed this feed"
        return PollDecision(now + timedelta(seconds=backoff_cap), interval, errors, enabled=False,
                            disabled_reason=reason, delay=float(backoff_cap))
    delay = backoff(errors, configured_interval, backoff_cap, rng)
    if outcome.status in RETRY_AFTER_STATUSES:
        delay = honouring_retry_after(delay, parse_retry_after((outcome.headers or {}).get("retry-after"), now))
    return PollDecision(now + timedelta(seconds=delay), interval, errors, delay=delay)
