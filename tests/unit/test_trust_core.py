"""[trust] The pure rules: who may know of an item (embargo), and when a failed publish is retried."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from syndication.publish.channels import is_publicly_known
from syndication.publish.published import under_embargo

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(("embargo", "status", "withdrawn", "known"), [
    (None, "usable", None, True),
    (NOW + H, "usable", None, False),  # under embargo
    (NOW - H, "usable", None, True),  # embargo passed
    (NOW + H, "withdrawn", NOW - H, False),  # withdrawn under embargo, embargo still running
    (NOW - H, "withdrawn", NOW - 2 * H, False),  # withdrawn before its embargo passed: never public
    (NOW - 2 * H, "withdrawn", NOW - H, True),  # public for an hour, then withdrawn: tombstone, 410
    (None, "withdrawn", NOW - H, True),
    (NOW - H, "withdrawn", None, True),  # withdrawn before withdrawal times were recorded
])
def test_publicly_known(embargo: datetime | None, status: str, withdrawn: datetime | None, known: bool) -> None:
    assert is_publicly_known(embargo_until=embargo, withdrawn_at=withdrawn, status=status, now=NOW) is known


def test_under_embargo_is_strictly_before() -> None:
    assert under_embargo(NOW + timedelta(seconds=1), NOW) and not under_embargo(NOW, NOW)
    assert not under_embargo(None, NOW)
