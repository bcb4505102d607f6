"""The one place the shell reads the clock; the core takes `now` as an argument."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["UTC", "utcnow", "isoformat"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
