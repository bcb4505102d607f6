"""What a poll's outcome means for the source: when to poll next, at what interval, still enabled?

Pure: the clock (`now`) and the randomness (`rng`) are arguments, so every rule is unit-tested.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from syndication.kernel.clock import human_age
from syndication.kernel.retry import backoff, honouring_retry_after, parse_retry_after

WEEK = timedelta(days=7)
MIN_SPAN = timedelta(hours=1)  # a burst of items just now is not a rate
RETRY_AFTER_STATUSES = (429, 503)
# A quiet source is polled at most this many times less often than configured, unless its `max_interval` says
# otherwise; and never less often than `fetch.max_interval` (1 h by default), whatever the source says.
QUIET_STRETCH = 4


def interval_bound(configured: int, source_max: int | None, cap: int) -> int:
    """The longest a quiet source may wait between polls: its `max_interval` (default QUIET_STRETCH times its
    interval), within the global cap `fetch.max_interval`; never below the configured interval itself."""
    wanted = source_max if source_max is not None else QUIET_STRETCH * configured
    return max(configured, min(wanted, cap))


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll came back with. `status` is the HTTP status (None for a network or folder error)."""

    ok: bool  # items (or a 304) came back
    status: int | None = None
    headers: Mapping[str, str] | None = None  # lower-cased response headers
    error: str | None = None
    # Published times of the entries in the document (for the adaptive interval); None = keep the interval.
    published: tuple[datetime, ...] | None = None
    new_items: int = 0  # items this poll stored for the first time: the source is alive, poll as configured
    # The newest item known from this source (the document's or one stored before): how long it has been quiet.
    newest_item_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PollDecision:
    next_poll_at: datetime
    interval: int  # current (adaptive) interval in seconds
    consecutive_errors: int
    enabled: bool = True
    disabled_reason: str | None = None
    delay: float = 0.0  # seconds until next_poll_at, for the record
    # Why the next poll is not `configured_interval` after this one (quiet feed, backoff, Retry-After); None
    # when it is. Shown by `status` and /ops.
    reason: str | None = None


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


def quiet_reason(newest: datetime | None, now: datetime, configured_interval: int) -> str:
    """Why a source that answered without new items is polled less often than configured."""
    if newest is None:
        return "quiet feed: no dated items"
    age = (now - newest).total_seconds()
    if age >= configured_interval:
        return f"quiet feed: no new items for {human_age(age)}"
    return "no new items in this poll, and the feed's publishing rate is slower than the configured interval"


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

    `max_interval` is the source's bound (interval_bound): the configured interval is what the operator asked
    for, and a quiet source is stretched only up to it.

    - success with new items: back to the configured interval at once;
    - success without: the interval adapts to the publishing rate when dates came back, else stays (within
      the bound, which may have shrunk since it was chosen); errors reset;
    - 410 Gone: the source is disabled with that reason (no next poll until an operator re-enables it);
    - 429 / 503: Retry-After honoured (seconds or HTTP date), never earlier than the backoff;
    - any other error (404, 5xx, network, not a feed): exponential backoff with jitter, capped.
    """
    bound = max(configured_interval, max_interval)
    interval = min(bound, current_interval or configured_interval)
    if outcome.ok:
        if outcome.new_items > 0:
            interval = configured_interval
        elif outcome.published is not None:
            interval = adaptive_interval(outcome.published, now, configured_interval, bound)
        interval = max(configured_interval, interval)
        newest = outcome.newest_item_at
        if outcome.published:
            newest = max([p for p in outcome.published if p <= now] + ([newest] if newest else []), default=newest)
        reason = quiet_reason(newest, now, configured_interval) if interval > configured_interval else None
        return PollDecision(now + timedelta(seconds=interval), interval, 0, delay=float(interval), reason=reason)
    errors = consecutive_errors + 1
    if outcome.status == 410:
        reason = f"HTTP 410 Gone on {now.date().isoformat()}: the partner removed this feed"
        return PollDecision(now + timedelta(seconds=backoff_cap), interval, errors, enabled=False,
                            disabled_reason=reason, delay=float(backoff_cap), reason=reason)
    delay = backoff(errors, configured_interval, backoff_cap, rng)
    what = f"HTTP {outcome.status}" if outcome.status else "fetch failed"
    reason = (f"backoff after {errors} consecutive error{'s' if errors > 1 else ''} ({what}): "
              f"next poll in {human_age(delay)}")
    if outcome.status in RETRY_AFTER_STATUSES:
        asked = honouring_retry_after(delay, parse_retry_after((outcome.headers or {}).get("retry-after"), now))
        if asked > delay:
            delay = asked
            reason = f"the partner asked us to wait {human_age(delay)} (HTTP {outcome.status} with Retry-After)"
    return PollDecision(now + timedelta(seconds=delay), interval, errors, delay=delay, reason=reason)
