"""WebSub publisher pings: tell the hub (hub.mode=publish, hub.url=<feed>) that a channel changed.

Each ping is retried with doubling delays and recorded in websub_pings (outcome, status, attempts).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import httpx
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import WebSubPing
from syndication.db.session import transaction
from syndication.settings import Settings

log = logging.getLogger(__name__)


def ping(
    client: httpx.Client, hub_url: str, topic: str, *, retries: int, delay: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, int | None, int, str | None]:
    """POST one publish ping; (outcome, http status, attempts, error). 2xx is success."""
    status: int | None = None
    error: str | None = None
    attempts = 0
    for attempt in range(retries + 1):
        attempts = attempt + 1
        try:
            resp = client.post(hub_url, data={"hub.mode": "publish", "hub.url": topic})
            status = resp.status_code
            if 200 <= status < 300:
                return "ok", status, attempts, None
            error = f"hub answered HTTP {status}"
            if 400 <= status < 500 and status not in (408, 429):
                break  # the hub refuses this request; retrying will not help
        except httpx.HTTPError as exc:
            status, error = None, f"{exc.__class__.__name__}: {exc}"
        if attempt < retries:
            sleep(delay * (2**attempt))
    return "failed", status, attempts, error


def ping_changed(
    sessions: sessionmaker[Session], settings: Settings, results: Sequence[object], now: datetime
) -> list[WebSubPing]:
    """Ping the hub once per changed current feed file (each format is its own topic)."""
    hub = settings.websub.hub_url
    if not hub:
        return []
    base = settings.public_url.rstrip("/")
    topics = sorted({(r.channel, f"{base}/feeds/{r.channel}.{r.format}")  # type: ignore[attr-defined]
                     for r in results if getattr(r, "changed", False)})
    if not topics:
        return []
    rows: list[WebSubPing] = []
    with httpx.Client(timeout=settings.websub.timeout, headers={"User-Agent": settings.fetch.user_agent}) as client:
        for channel, topic in topics:
            outcome, status, attempts, error = ping(client, hub, topic, retries=settings.websub.retries,
                                                    delay=settings.websub.retry_delay)
            if outcome != "ok":
                log.warning("WebSub ping for %s failed after %d attempts: %s", topic, attempts, error)
            rows.append(WebSubPing(channel_id=channel, topic_url=topic, hub_url=hub, outcome=outcome,
                                   http_status=status, attempts=attempts, error=error, created_at=now))
    with transaction(sessions) as session:
        session.add_all(rows)
    return rows
