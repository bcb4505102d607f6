"""Pure poll decisions: backoff, Retry-After, 410, adaptive interval (the policy itself: test_retry.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from syndication.intake.decide import PollDecision, PollOutcome, adaptive_interval, decide, interval_bound

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = 86400


def run(outcome: PollOutcome, errors: int = 0, current: int | None = None, seed: int = 1):
    return decide(outcome, now=NOW, configured_interval=300, current_interval=current, consecutive_errors=errors,
                  backoff_cap=DAY, max_interval=6 * 3600, rng=random.Random(seed))


def test_success_resets_errors_and_keeps_interval_without_dates() -> None:
    d = run(PollOutcome(ok=True, status=304), errors=4, current=1200)
    assert d.consecutive_errors == 0 and d.enabled and d.interval == 1200
    assert d.next_poll_at == NOW + timedelta(seconds=1200)


@pytest.mark.parametrize("status", [404, 500, 502, None])
def test_errors_back_off(status: int | None) -> None:
    first = run(PollOutcome(ok=False, status=status, error="x"), errors=0)
    fifth = run(PollOutcome(ok=False, status=status, error="x"), errors=4)
    assert first.consecutive_errors == 1 and fifth.consecutive_errors == 5 and fifth.enabled
    assert 240 <= first.delay <= 360
    assert 300 * 16 * 0.8 <= fifth.delay <= 300 * 16 * 1.2
    assert run(PollOutcome(ok=False, status=status), errors=30).delay <= DAY


def test_gone_disables_with_reason() -> None:
    d = run(PollOutcome(ok=False, status=410, error="HTTP 410 Gone"))
    assert d.enabled is False and "410" in (d.disabled_reason or "")


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(status: int) -> None:
    d = run(PollOutcome(ok=False, status=status, headers={"retry-after": "7200"}))
    assert d.delay == 7200 and d.next_poll_at == NOW + timedelta(seconds=7200)
    d = run(PollOutcome(ok=False, status=status, headers={"retry-after": "Sat, 28 Nov 2026 15:00:00 GMT"}))
    assert d.delay == 3 * 3600
    # Never earlier than the backoff would be.
    d = run(PollOutcome(ok=False, status=status, headers={"retry-after": "1"}), errors=3)
    assert d.delay >= 300 * 8 * 0.8
    # Without (or with a broken) Retry-After: plain backoff.
    assert run(PollOutcome(ok=False, status=status, headers={"retry-after": "later"})).delay <= 360


def test_retry_after_ignored_for_other_statuses() -> None:
    assert run(PollOutcome(ok=False, status=500, headers={"retry-after": "7200"})).delay <= 360


def test_adaptive_interval_from_publishing_rate() -> None:
    week = [NOW - timedelta(days=d) for d in range(7)]  # one a day, document reaching back further
    older = [NOW - timedelta(days=10)]
    assert adaptive_interval(week + older, NOW, 300, 6 * 3600) == 6 * 3600  # daily -> max 6 h
    assert adaptive_interval(week + older, NOW, 300, 2 * DAY) == DAY
    busy = [NOW - timedelta(minutes=10 * i) for i in range(100)]  # every 10 min, document covers 16 h
    assert adaptive_interval(busy, NOW, 60, 6 * 3600) == pytest.approx(594, abs=2)
    assert adaptive_interval(busy, NOW, 900, 6 * 3600) == 900  # never below the configured minimum
    assert adaptive_interval([], NOW, 300, 6 * 3600) == 6 * 3600
    assert adaptive_interval([NOW - timedelta(days=30)], NOW, 300, 6 * 3600) == 6 * 3600
    future = [NOW + timedelta(days=1)] * 50
    assert adaptive_interval(future, NOW, 300, 6 * 3600) == 6 * 3600  # future dates do not count


def test_success_with_dates_adapts_interval_within_bounds() -> None:
    busy = tuple(NOW - timedelta(minutes=i) for i in range(500))
    assert run(PollOutcome(ok=True, status=200, published=busy)).interval == 300
    quiet = (NOW - timedelta(days=3),)
    d = run(PollOutcome(ok=True, status=200, published=quiet))
    assert d.interval == 6 * 3600 and d.next_poll_at == NOW + timedelta(hours=6)


# ---------------------------------------------------------------- [newcomer] the configured interval is what happens


def test_the_bound_is_a_small_multiple_of_the_interval_within_the_global_cap() -> None:
    assert interval_bound(60, None, 3600) == 240  # 4 x interval by default
    assert interval_bound(300, None, 3600) == 1200
    assert interval_bound(1200, None, 3600) == 3600  # never beyond fetch.max_interval (1 h by default)
    assert interval_bound(60, 600, 3600) == 600  # a source's own bound
    assert interval_bound(60, 7200, 3600) == 3600  # ... within the cap
    assert interval_bound(7200, None, 3600) == 7200  # never below what the operator configured


def quiet_run(outcome: PollOutcome, current: int | None = None, errors: int = 0) -> PollDecision:
    return decide(outcome, now=NOW, configured_interval=60, current_interval=current, consecutive_errors=errors,
                  backoff_cap=DAY, max_interval=interval_bound(60, None, 3600), rng=random.Random(1))


def test_a_quiet_feed_is_stretched_only_to_its_bound_and_says_why() -> None:
    day_old = (NOW - timedelta(days=1), NOW - timedelta(days=2))
    d = quiet_run(PollOutcome(ok=True, status=200, published=day_old))
    assert d.interval == 240 and d.next_poll_at == NOW + timedelta(seconds=240)  # not 6 h
    assert d.reason == "quiet feed: no new items for 1d 0h"
    # A 304: nothing to date; the newest item stored before tells how long the feed has been quiet.
    d = quiet_run(PollOutcome(ok=True, status=304, newest_item_at=NOW - timedelta(hours=3)), current=240)
    assert d.interval == 240 and d.reason == "quiet feed: no new items for 3h 0m"


def test_new_items_bring_the_configured_interval_back_at_once() -> None:
    stale = (NOW - timedelta(days=3),) * 5 + (NOW - timedelta(minutes=1),)  # the rate alone would say "slow"
    d = quiet_run(PollOutcome(ok=True, status=200, published=stale, new_items=1), current=240)
    assert d.interval == 60 and d.reason is None and d.next_poll_at == NOW + timedelta(seconds=60)


def test_an_interval_chosen_under_a_larger_bound_comes_back_within_it() -> None:
    d = quiet_run(PollOutcome(ok=True, status=304), current=21600)  # a row from the 6 h default
    assert d.interval == 240 and d.reason == "quiet feed: no dated items"


def test_backoff_and_retry_after_say_why() -> None:
    d = quiet_run(PollOutcome(ok=False, status=500, error="HTTP 500"), errors=2)
    assert d.reason is not None and d.reason.startswith("backoff after 3 consecutive errors (HTTP 500): next poll in ")
    d = quiet_run(PollOutcome(ok=False, status=429, headers={"retry-after": "7200"}))
    assert d.reason == "the partner asked us to wait 2h 0m (HTTP 429 with Retry-After)"
    d = quiet_run(PollOutcome(ok=False, status=None, error="connection refused"))
    assert d.reason is not None and d.reason.startswith("backoff after 1 consecutive error (fetch failed)")
    assert quiet_run(PollOutcome(ok=True, status=200, published=(NOW,), new_items=1)).reason is None
