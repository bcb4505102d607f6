"""The embedded executor's queue depths in `syndication queues`/status, read from its own futures (no private
ThreadPoolExecutor attribute)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from syndication.operations import ops
from syndication.runtime.context import Runtime
from syndication.runtime.dispatch import LocalDispatcher


def test_waiting_polls_are_the_poll_queue_depth(make_runtime: Callable[..., Runtime],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rt = make_runtime()
    dispatcher = LocalDispatcher(rt, threads=1)
    release = threading.Event()
    started = threading.Event()

    def held_poll(source_id: int, lease_token: str) -> None:
        started.set()
        release.wait(10)

    monkeypatch.setattr(dispatcher, "_poll", held_poll)
    try:
        for n in range(3):
            dispatcher.poll(n, "token")
        assert started.wait(5)
        state = ops.executor_state(dispatcher)
        assert {q["queue"]: q["depth"] for q in state["queues"]} == {"poll": 2, "publish": 0}
        assert state["running"] == 1
    finally:
        release.set()
        deadline = time.monotonic() + 10
        while dispatcher.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        dispatcher.close()
    assert ops.executor_state(dispatcher)["queues"][0]["depth"] == 0
    assert ops.executor_state(None)["note"] == "no executor in this process"
