"""The one place the shell reads the clock; the core takes `now` as an argument."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["UTC", "utcnow", "isoformat", "human_age"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def human_age(seconds: float | None) -> str:
    """Short human duration: 45s, 12m, 3h 5m, 2d 4h."""
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"
