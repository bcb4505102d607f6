"""The one retry policy (syndication.kernel.retry): exponential backoff with a cap and jitter, Retry-After honoured.

Its users: a source's next poll after an error, webhook deliveries, WebSub pings, failed channel publishes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from syndication.kernel.retry import RETRY_AFTER_MAX, backoff, honouring_retry_after, parse_retry_after

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = 86400


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0),
    ("0", 0.0),
    ("  30 ", 30.0),
    ("Sat, 28 Nov 2026 12:05:00 GMT", 300.0),
    ("Sat, 28 Nov 2026 11:00:00 GMT", 0.0),  # in the past: now
    ("99999999999", float(RETRY_AFTER_MAX)),
    ("soon", None),
    ("-5", None),
    ("", None),
    (None, None),
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_is_honoured_but_never_shortens_the_backoff() -> None:
    assert honouring_retry_after(600.0, None) == 600.0
    assert honouring_retry_after(600.0, 30.0) == 600.0
    assert honouring_retry_after(600.0, 3600.0) == 3600.0


@pytest.mark.parametrize(("base", "cap"), [(300, DAY), (1.0, 60.0), (30, 3600)])
def test_backoff_doubles_within_jitter_and_is_capped(base: float, cap: float) -> None:
    rng = random.Random(7)
    for failures in range(1, 8):
        nominal = min(cap, base * 2 ** (failures - 1))
        for _ in range(20):
            assert nominal * 0.8 <= backoff(failures, base, cap, rng) <= min(cap, nominal * 1.2)
    assert backoff(0, base, cap, rng) <= base * 1.2  # no failure yet: about one base
    # Jitter: two things failing together do not come back together.
    assert len({round(backoff(3, base, cap, random.Random(s)), 6) for s in range(10)}) > 5


def test_backoff_never_overflows_however_many_failures() -> None:
    """A channel that keeps failing for a day at a one-second base reaches thousands of consecutive failures:
    the old `publish.failures.retry_delay` and `publish.webhooks.backoff` computed base * 2**(n-1) as a float
    and raised OverflowError past about 1,024 failures (and the publish pass with it)."""
    rng = random.Random(1)
    for failures in (1_025, 2_000, 10_000, 10**9):
        assert 60.0 * 0.8 <= backoff(failures, 1.0, 60.0, rng) <= 60.0
