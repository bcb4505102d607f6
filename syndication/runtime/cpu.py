"""Parse, normalise and fingerprint a fetched document: in the polling thread, or in parse processes.

These stages are pure and CPU-bound. Threads share one interpreter lock, so in embedded mode every core
but one sits idle while a thread parses. `schedule.parse_processes = N` (embedded mode only) hands the
stages to N worker processes; the polling threads keep fetching and storing, and what crosses the process
boundary is the fetched bytes one way and the normalised items (plain dataclasses) the other. The default,
0, keeps everything in the one process. Celery workers are processes already and never use a pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from syndication.kernel.domain import NormalisedItem, PartnerPolicy, Rejection

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from syndication.runtime.context import Runtime

log = logging.getLogger(__name__)
POOL_KEY = "parse_pool"


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    items: list[NormalisedItem]
    rejections: list[Rejection]
    problem: str | None  # the parser's notes: an ill-formed document whose entries were recovered, a charset fallback
    published: tuple[datetime, ...]  # every entry's date, for the source's health figures


def prepare_document(
    body: bytes, headers: Mapping[str, str], url: str | None, status: int | None, policy: PartnerPolicy,
    now: datetime,
) -> PreparedDocument:
    """Raises intake.parse.ParseError when the document is not a feed."""
    read_document, normalise_feed, fit_polled = _stages()
    parsed = read_document(body, headers, url, status=status)
    items, rejections = normalise_feed(parsed, policy, now=now, document_url=url)
    items, fitted = fit_polled(items)  # nobody to answer a poll: over-long values fitted, not refused
    published = tuple(p for e in parsed.entries for p in (e.published or e.updated,) if p is not None)
    return PreparedDocument(items, rejections, "; ".join(filter(None, (parsed.notes, fitted))) or None, published)


def _stages() -> tuple[Any, Any, Any]:
    """read_document, normalise_feed, fit_polled."""
    # Start-up: the parsers and the normaliser (~0.3 s of imports: lxml, feedparser, the credit rules) load with
    # the first document to read; a command or a round with nothing new (all 304s) never needs them.
    # lazy: start-up (above)
    from syndication.intake.documents import read_document
    from syndication.pipeline.column_fit import fit_polled
    from syndication.pipeline.normalise import normalise_feed

    return read_document, normalise_feed, fit_polled


def _warm() -> None:
    """Runs in each new worker: the stages' imports are its start-up cost, paid before the first poll."""
    _stages()


class ParsePool:
    """A process pool for `prepare_document`, started lazily and restarted if a worker dies."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _get(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # lazy: start-up: multiprocessing and its pool cost ~15 ms; only parse_processes > 0 starts one
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                # spawn, not fork: the parent runs threads (pollers, the web server), and forking a
                # threaded process can copy a held lock into the child.
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    def warm(self) -> None:
        pool = self._get()
        for fut in [pool.submit(_warm) for _ in range(self.processes)]:
            fut.result()

    def prepare(
        self, body: bytes, headers: Mapping[str, str], url: str | None, status: int | None, policy: PartnerPolicy,
        now: datetime,
    ) -> PreparedDocument:
        from concurrent.futures.process import BrokenProcessPool  # lazy: start-up (see _get)

        pool = self._get()
        try:
            return pool.submit(prepare_document, body, dict(headers), url, status, policy, now).result()
        except BrokenProcessPool:
            # A worker died (killed, out of memory): start a new pool for the next document and do this
            # one here, so the poll still completes.
            log.warning("a parse process died; restarting the pool and parsing this document in-process")
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            return prepare_document(body, headers, url, status, policy, now)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def attach(rt: Runtime) -> ParsePool | None:
    """Give an embedded runtime its parse processes when the settings ask for them."""
    n = rt.settings.schedule.parse_processes
    if n <= 0 or not rt.settings.embedded:
        return None
    pool = rt.extras.get(POOL_KEY)
    if pool is None:
        pool = rt.extras[POOL_KEY] = ParsePool(n)
    return pool  # type: ignore[no-any-return]


def prepare(
    rt: Runtime, body: bytes, headers: Mapping[str, str], url: str | None, status: int | None,
    policy: PartnerPolicy, now: datetime,
) -> PreparedDocument:
    pool: ParsePool | None = rt.extras.get(POOL_KEY)
    if pool is None:
        return prepare_document(body, headers, url, status, policy, now)
    return pool.prepare(body, headers, url, status, policy, now)
