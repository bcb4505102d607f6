"""The in-process limiters of embedded mode: fetch slots per host and the push rate per partner.

Their Redis twins, shared by every process of a scaled deployment, are tested against the real Redis and
real worker/web processes in tests/integration/test_limits_shared.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from limits.storage import MemoryStorage

from syndication.kernel.limiters import LocalHostSlots, SlotsBusy, WindowRateLimit, host_slots, push_rate_limit
from syndication.kernel.settings import load_settings


def test_rate_allows_a_minute_at_once_then_says_how_long_to_wait() -> None:
    rl = WindowRateLimit(MemoryStorage(), per_minute=5)
    assert [rl.take("turan") for _ in range(5)] == [0.0] * 5
    wait = rl.take("turan")
    assert 55 < wait <= 60  # the oldest of the five leaves the 60 s window
    assert rl.take("commonspace") == 0.0  # per partner
    assert rl.take("turan") > 0  # refused requests spend nothing, but stay refused


def test_burst_smaller_than_the_minute_is_its_own_window() -> None:
    rl = WindowRateLimit(MemoryStorage(), per_minute=6, burst=3)  # 3 in any 30 s, 6 in any 60 s
    assert [rl.take("a") for _ in range(3)] == [0.0] * 3
    assert 25 < rl.take("a") <= 30
    # A burst of less than one second's worth is rounded to a whole second, never below the minute's rate.
    fast = WindowRateLimit(MemoryStorage(), per_minute=1200, burst=5)
    assert [(i.amount, i.get_expiry()) for i in fast.items] == [(20, 1), (1200, 60)]


def test_embedded_settings_give_in_process_limiters() -> None:
    s = load_settings(None, fetch={"per_host_concurrency": 3}, api={"rate_limit_per_minute": 2})
    slots = host_slots(s)
    assert isinstance(slots, LocalHostSlots) and slots.per_host == 3
    assert host_slots(s) is slots  # every embedded runtime of the process shares the same slots
    rl = push_rate_limit(s)
    assert isinstance(rl, WindowRateLimit) and [rl.take("x") > 0 for _ in range(3)] == [False, False, True]


def test_local_slots_bound_concurrency_and_time_out() -> None:
    slots = LocalHostSlots(2)
    inside = peak = 0
    lock = threading.Lock()

    def fetch_one() -> None:
        nonlocal inside, peak
        with slots.hold("agency.example", wait=10):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=fetch_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 2
    with slots.hold("a.example", wait=1), slots.hold("a.example", wait=1):
        with pytest.raises(SlotsBusy, match="2 requests already in flight"), slots.hold("a.example", wait=0.05):
            pass
        with slots.hold("b.example", wait=0.05):  # another host has its own slots
            pass


def test_scaled_rate_limit_lets_pushes_through_when_redis_does_not_answer(caplog: pytest.LogCaptureFixture) -> None:
    from tests.conftest import free_port

    s = load_settings(None, broker_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    rl = push_rate_limit(s)
    assert not isinstance(rl, WindowRateLimit)
    assert rl.take("turan") == 0.0
    assert "rate limit store unreachable" in caplog.text
