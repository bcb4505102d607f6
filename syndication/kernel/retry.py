"""When to try again: the one retry policy of the service.

Every retry kept in our own tables uses it: a source's next poll after an error (intake.decide), a webhook
delivery and a WebSub ping (publish.webhooks, publish.websub), a channel that failed to publish
(publish.failures). Celery tasks are retried by Celery itself (`autoretry_for`, `retry_backoff`,
`retry_jitter`: workers/celery_app.py), since there the task is the unit being retried.

Pure: the clock (`now`) and the randomness (`rng`) are arguments.
"""

from __future__ import annotations

import random
from datetime import datetime
from email.utils import parsedate_to_datetime

from syndication.kernel.clock import UTC

JITTER = 0.2  # ±20 %: processes failing together must not retry in step
# A Retry-After further out than this is treated as this: a partner's typo must not park a source for years.
RETRY_AFTER_MAX = 7 * 86400
# 2**40 times any base is beyond every cap we configure; a larger exponent would overflow a float.
_MAX_EXPONENT = 40


def backoff(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after `failures` consecutive failures: base * 2^(failures-1), ±20 % jitter, never
    above the cap (however many failures)."""
    exponent = min(max(0, failures - 1), _MAX_EXPONENT)
    nominal = min(float(cap), float(base) * (2**exponent))
    return min(float(cap), nominal * (rng or random).uniform(1 - JITTER, 1 + JITTER))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(min(int(value), RETRY_AFTER_MAX))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return float(min(max(0.0, (when - now).total_seconds()), RETRY_AFTER_MAX))


def honouring_retry_after(delay: float, retry_after: float | None) -> float:
    """The wait when the other side asked for one: never earlier than it asked, never earlier than our backoff."""
    return delay if retry_after is None else max(delay, retry_after)
