"""Limits that must hold for the whole deployment, not per process: fetches in flight per partner host, and
the push API's rate per partner.

Embedded mode is one process, so both live in memory. Scaled mode runs many processes (8 fetch processes on
three hosts, two web processes, ...): there both live in Redis, which every role already reaches as the
broker, so the processes together never open more than `fetch.per_host_concurrency` connections to one
partner host and never accept more than `api.rate_limit_per_minute` requests of one partner a minute.

Each limiter is an injected object with one small interface and two implementations:
- `HostSlots.hold(host, wait)`: a context manager holding one of the host's slots. In Redis a slot is a
  redis-py `Lock` (SET NX with an expiry, released by token) on one of N names per host; a heartbeat thread
  extends the locks this process holds, so a slot whose holder died (kill -9, host lost) frees itself within
  `ttl` seconds, while a slow fetch keeps its slot as long as it runs.
- `RateLimit.take(key)`: spend one request, answer 0.0 or the seconds to wait. Both implementations are the
  `limits` library's moving window (memory storage embedded, Redis storage scaled), so the two modes count
  the same way.
- `FailureThrottle.retry_after(key)` / `.failed(key)`: failed authentications per client address (the web's
  guard against guessing keys and tokens). Asked before a credential is checked, so it must look without
  spending; the same moving window, in the same two storages.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import redis
    from limits import RateLimitItem
    from limits.storage import Storage

    from syndication.kernel.settings import Settings

log = logging.getLogger(__name__)

SLOT_TTL = 15.0  # seconds a dead holder keeps a slot; live holders extend theirs every TTL/3


class SlotsBusy(Exception):
    """No slot of the host came free within the wait."""

    def __init__(self, host: str, per_host: int, wait: float) -> None:
        super().__init__(f"{host}: {per_host} requests already in flight (per-host limit) for {wait:g}s")
        self.host, self.per_host, self.wait = host, per_host, wait


class HostSlots(Protocol):
    per_host: int

    def hold(self, host: str, wait: float) -> AbstractContextManager[None]:
        """Hold one of `host`'s slots for the block; raise SlotsBusy after `wait` seconds without one."""
        ...

    def close(self) -> None: ...


class RateLimit(Protocol):
    def take(self, key: str) -> float:
        """Spend one request of `key`: 0.0 when allowed, else the seconds until one would be."""
        ...


# ---------------------------------------------------------------- fetch slots per host


class LocalHostSlots:
    """One process: a bounded semaphore per host, shared by every fetch thread of the process."""

    def __init__(self, per_host: int) -> None:
        self.per_host = max(1, per_host)
        self._lock = threading.Lock()
        self._sems: dict[str, threading.BoundedSemaphore] = {}

    def _sem(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._sems.get(host)
            if sem is None:
                sem = self._sems[host] = threading.BoundedSemaphore(self.per_host)
            return sem

    @contextmanager
    def hold(self, host: str, wait: float) -> Iterator[None]:
        sem = self._sem(host)
        if not sem.acquire(timeout=wait):
            raise SlotsBusy(host, self.per_host, wait)
        try:
            yield
        finally:
            sem.release()

    def close(self) -> None:
        pass


class RedisHostSlots:
    """Every process of a deployment: N expiring Redis locks per host (`<prefix>slot:<host>:<i>`)."""

    def __init__(self, client: redis.Redis, per_host: int, prefix: str, ttl: float = SLOT_TTL) -> None:
        self.client = client
        self.per_host = max(1, per_host)
        self.prefix = prefix
        self.ttl = ttl
        self._held: set[Any] = set()
        self._held_lock = threading.Lock()
        self._heartbeat: threading.Thread | None = None
        self._closed = threading.Event()

    def _names(self, host: str) -> list[str]:
        names = [f"{self.prefix}slot:{host.lower()}:{i}" for i in range(self.per_host)]
        random.shuffle(names)  # waiters spread over the slots instead of all racing for slot 0
        return names

    @contextmanager
    def hold(self, host: str, wait: float) -> Iterator[None]:
        lock = self._acquire(host, wait)
        try:
            yield
        finally:
            with self._held_lock:
                self._held.discard(lock)
            try:
                lock.release()
            except Exception as exc:  # expired meanwhile (Redis unreachable longer than the TTL): nothing to free
                log.warning("fetch slot %s was lost before its release: %s", lock.name, exc)

    def _acquire(self, host: str, wait: float) -> Any:
        from redis.lock import Lock  # lazy: start-up: redis costs ~0.1 s; in-memory limits never load it

        deadline = time.monotonic() + wait
        pause = 0.02
        while True:
            for name in self._names(host):
                # thread_local=False: the heartbeat thread extends locks that fetch threads took.
                lock = Lock(self.client, name, timeout=self.ttl, thread_local=False)
                if lock.acquire(blocking=False):
                    with self._held_lock:
                        self._held.add(lock)
                    self._start_heartbeat()
                    return lock
            left = deadline - time.monotonic()
            if left <= 0:
                raise SlotsBusy(host, self.per_host, wait)
            # Holders release without telling waiters; polling with a capped backoff is cheap (one SET per slot).
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.25)

    def _start_heartbeat(self) -> None:
        with self._held_lock:
            if self._heartbeat is not None and self._heartbeat.is_alive():
                return
            self._heartbeat = threading.Thread(target=self._beat, name="fetch-slots-heartbeat", daemon=True)
            self._heartbeat.start()

    def _beat(self) -> None:
        while not self._closed.wait(self.ttl / 3):
            with self._held_lock:
                held = list(self._held)
            for lock in held:
                try:
                    lock.reacquire()  # the expiry starts again from now
                except Exception as exc:
                    log.warning("could not extend fetch slot %s: %s", lock.name, exc)

    def close(self) -> None:
        self._closed.set()
        self.client.close()


# ---------------------------------------------------------------- request rate per key


class WindowRateLimit:
    """At most `per_minute` requests of one key in any 60 s, and with `burst` at most `burst` in any stretch
    of burst ÷ rate seconds (whole seconds, never stricter than the per-minute rate)."""

    def __init__(self, storage: Storage, per_minute: int, burst: int | None = None, prefix: str = "") -> None:
        # lazy: start-up: `limits` costs ~20 ms, and a process that only fetches (host slots) never needs it
        from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
        from limits.strategies import MovingWindowRateLimiter

        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.prefix = prefix
        self.items: list[RateLimitItem] = [RateLimitItemPerMinute(per_minute)]
        if burst is not None and burst < per_minute:
            window = max(1, round(burst * 60 / per_minute))
            self.items.insert(0, RateLimitItemPerSecond(max(burst, math.ceil(per_minute * window / 60)), window))

    def take(self, key: str) -> float:
        ident = self.prefix + key
        # test first so a refused request spends nothing; hit is atomic, so concurrent requests never overshoot
        # (a request that passes the test but loses the race spends at most one entry of a shorter window).
        if all(self.strategy.test(item, ident) for item in self.items) and all(
            self.strategy.hit(item, ident) for item in self.items
        ):
            return 0.0
        now = time.time()
        waits = [stats.reset_time - now for item in self.items
                 if (stats := self.strategy.get_window_stats(item, ident)).remaining <= 0]
        return max([0.001, *waits])


class FailOpen:
    """A shared limiter that cannot reach Redis lets the request through (logged): a push refused for our own
    outage would be worse than one over the limit."""

    def __init__(self, inner: RateLimit) -> None:
        self.inner = inner

    def take(self, key: str) -> float:
        from redis.exceptions import RedisError  # lazy: start-up: redis costs ~0.1 s; in-memory limits never load it

        try:
            return self.inner.take(key)
        except (RedisError, OSError) as exc:
            log.warning("rate limit store unreachable (%s: %s); request allowed", exc.__class__.__name__, exc)
            return 0.0


# ---------------------------------------------------------------- failed authentication per key


class FailureThrottle:
    """At most `max_failures` failures of one key (a client address) in any `window_seconds`.

    `retry_after(key)` is asked before a credential is checked (a blocked address gets no answer about its
    guess, right or wrong) and spends nothing; `failed(key)` records a wrong one. A store that cannot be
    reached lets authentication go on unthrottled, said once a minute in the log: a throttle must not take
    the service down with it.
    """

    def __init__(self, storage: Storage, max_failures: int, window_seconds: int, prefix: str = "") -> None:
        # lazy: start-up: `limits` costs ~20 ms, and a process that only fetches (host slots) never needs it
        from limits import RateLimitItemPerSecond
        from limits.strategies import MovingWindowRateLimiter

        self.strategy = MovingWindowRateLimiter(storage)
        self.item = RateLimitItemPerSecond(max_failures, window_seconds)
        self.prefix = prefix
        self._warned_at = -math.inf
        self._warn_lock = threading.Lock()

    def retry_after(self, key: str) -> int:
        """0 when `key` may try a credential now, else the whole seconds until it may."""
        from redis.exceptions import RedisError  # lazy: start-up: redis costs ~0.1 s; in-memory limits never load it

        ident = self.prefix + key
        try:
            if self.strategy.test(self.item, ident):
                return 0
            reset = self.strategy.get_window_stats(self.item, ident).reset_time
        except (RedisError, OSError) as exc:
            self._unreachable(exc)
            return 0
        return max(1, math.ceil(reset - time.time()))

    def failed(self, key: str) -> None:
        from redis.exceptions import RedisError  # lazy: start-up: redis costs ~0.1 s; in-memory limits never load it

        try:
            self.strategy.hit(self.item, self.prefix + key)
        except (RedisError, OSError) as exc:
            self._unreachable(exc)

    def _unreachable(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._warn_lock:
            if now - self._warned_at < 60:
                return
            self._warned_at = now
        log.warning("failed-auth throttle store unreachable (%s: %s); authentication goes on unthrottled",
                    exc.__class__.__name__, exc)


# ---------------------------------------------------------------- from settings

_local: dict[int, LocalHostSlots] = {}
_local_lock = threading.Lock()


def local_host_slots(per_host: int) -> LocalHostSlots:
    """This process's slots: every embedded runtime and every fetch given no slots of its own share them."""
    with _local_lock:
        if per_host not in _local:
            _local[per_host] = LocalHostSlots(per_host)
        return _local[per_host]


def key_prefix(settings: Settings) -> str:
    return f"{settings.celery.key_prefix}syndication:limits:"


def redis_client(settings: Settings) -> redis.Redis:
    import redis  # lazy: start-up: redis costs ~0.1 s; in-memory limits never load it

    return redis.Redis.from_url(settings.broker_url, socket_timeout=10, socket_connect_timeout=5,
                                health_check_interval=10)


def host_slots(settings: Settings) -> HostSlots:
    """Embedded: this process's semaphores; scaled: slots in Redis shared by every fetch process."""
    if settings.embedded:
        return local_host_slots(settings.fetch.per_host_concurrency)
    return RedisHostSlots(redis_client(settings), settings.fetch.per_host_concurrency, key_prefix(settings))


def push_rate_limit(settings: Settings) -> RateLimit:
    """The push API's per-partner rate: in memory embedded, in Redis (shared by every web process) scaled."""
    from limits.storage import MemoryStorage, RedisStorage  # lazy: start-up: only the web's push API needs it

    api = settings.api
    if settings.embedded:
        return WindowRateLimit(MemoryStorage(), api.rate_limit_per_minute, api.rate_limit_burst)
    storage = RedisStorage(settings.broker_url, key_prefix=key_prefix(settings) + "rate",
                           socket_timeout=5, socket_connect_timeout=5)
    return FailOpen(WindowRateLimit(storage, api.rate_limit_per_minute, api.rate_limit_burst, prefix="push:"))


def failed_auth_throttle(settings: Settings) -> FailureThrottle:
    """Failed authentication per client address: in memory embedded, in Redis (every web process counts the
    same failures) scaled."""
    from limits.storage import MemoryStorage, RedisStorage  # lazy: start-up: only the web's guards need it

    auth = settings.auth
    if settings.embedded:
        return FailureThrottle(MemoryStorage(), auth.max_failures, auth.window_seconds)
    storage = RedisStorage(settings.broker_url, key_prefix=key_prefix(settings) + "auth",
                           socket_timeout=5, socket_connect_timeout=5)
    return FailureThrottle(storage, auth.max_failures, auth.window_seconds, prefix="failed:")
