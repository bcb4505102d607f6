"""The decisions of syndication.runtime.rounds: when a round of polls publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syndication.runtime.rounds import publish_after_poll, publish_on_tick

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changed", "running", "owed", "publish"),
    [
        (True, True, False, False),  # others of the round still polling: the round's end publishes
        (True, True, True, False),
        (False, True, True, False),
        (True, False, False, True),  # the last poll of its round, with changes
        (False, False, True, True),  # the last poll changed nothing, but earlier polls of the round did
        (False, False, False, False),  # a round of 304s: nothing to publish
    ],
)
def test_after_poll(changed: bool, running: bool, owed: bool, publish: bool) -> None:
    assert publish_after_poll(changed=changed, round_running=running, owed=owed) is publish


@pytest.mark.parametrize(
    ("relayed", "mark_age", "running", "publish"),
    [
        (False, None, False, False),  # nothing marked
        (True, None, False, False),  # relayed, but a publish already cleared the marks
        (True, 0.1, False, True),  # events from outside any round (embargo release, another process)
        (False, 60.0, False, False),  # an old mark and no new event: left to the next trigger, as before
        (True, 0.1, True, False),  # a fresh mark while a round runs: the round's end publishes it
        (False, 4.9, True, False),
        (False, 5.0, True, True),  # a mark has waited round_max_delay for a round still running
        (True, 30.0, True, True),
    ],
)
def test_on_tick(relayed: bool, mark_age: float | None, running: bool, publish: bool) -> None:
    oldest = None if mark_age is None else NOW - timedelta(seconds=mark_age)
    assert publish_on_tick(relayed=relayed, oldest_mark=oldest, round_running=running, now=NOW,
                           max_delay=5.0) is publish
