"""/metrics: Prometheus text computed from the database at scrape time (a custom Collector).

Every process role (embedded, web, workers) writes to the same database, so reading the figures from it
at scrape time gives the same numbers whichever web process is scraped, with no multi-process counter
files. Labels stay low-cardinality: partner id at most (plus outcome/state/queue enums).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import case, func, select

from syndication import ops
from syndication.clock import utcnow
from syndication.db.models import DeadLetter, Item, Poll, Source
from syndication.runtime import Runtime

log = logging.getLogger(__name__)

POLL_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LAG_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 24 * 3600.0, 7 * 86400.0)
ITEM_OUTCOMES = ("new", "updated", "unchanged", "rejected")


class DatabaseCollector(Collector):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = threading.Lock()
        self._lag = _LagAcc()

    def collect(self) -> Iterator[Metric]:
        rt = self.rt
        now = utcnow()
        with rt.sessions() as session:
            poll_rows = session.execute(
                select(Source.partner_id, Poll.outcome, func.count(),
                       *(func.coalesce(func.sum(getattr(Poll, k)), 0) for k in ITEM_OUTCOMES))
                .join(Source, Source.id == Poll.source_id).group_by(Source.partner_id, Poll.outcome)
            ).all()
            # Buckets counted in SQL: the polls table grows without bound.
            dur = session.execute(select(
                *(func.coalesce(func.sum(case((Poll.duration_ms <= int(b * 1000), 1), else_=0)), 0)
                  for b in POLL_DURATION_BUCKETS),
                func.count(), func.coalesce(func.sum(Poll.duration_ms), 0))).one()
            stored = session.execute(select(Item.partner_id, Item.status, func.count())
                                     .group_by(Item.partner_id, Item.status)).all()
            dead = session.execute(select(DeadLetter.task, func.count())
                                   .where(DeadLetter.replayed_at.is_(None)).group_by(DeadLetter.task)).all()

        polls = CounterMetricFamily("syndication_polls", "Poll attempts by partner and outcome.",
                                    labels=["partner", "outcome"])
        items = CounterMetricFamily("syndication_items", "Items seen by polls, by partner and outcome "
                                    "(new, updated, unchanged, rejected).", labels=["partner", "outcome"])
        item_sums: dict[tuple[str, str], int] = {}
        for pid, outcome, n, *sums in poll_rows:
            polls.add_metric([pid, outcome], int(n))
            for k, v in zip(ITEM_OUTCOMES, sums, strict=True):
                item_sums[(pid, k)] = item_sums.get((pid, k), 0) + int(v)
        for (pid, k), v in sorted(item_sums.items()):
            items.add_metric([pid, k], v)
        yield polls
        yield items

        stored_g = GaugeMetricFamily("syndication_items_stored", "Items in the database by partner and status.",
                                     labels=["partner", "status"])
        for pid, status, n in stored:
            stored_g.add_metric([pid, status], int(n))
        yield stored_g

        notices = ops.notice_counts(rt)
        nf = CounterMetricFamily("syndication_notices", "Republishing notices by kind (notices are immutable; "
                                 "their deliveries carry the state).", labels=["kind"])
        for state, n in sorted((notices or {}).items()):
            nf.add_metric([state], n)
        yield nf
        deliveries = ops.delivery_counts(rt)
        df = CounterMetricFamily("syndication_deliveries", "Notice deliveries by state.", labels=["state"])
        for state, n in sorted((deliveries or {}).items()):
            df.add_metric([state], n)
        yield df

        from syndication.publish.failures import counted

        with rt.sessions() as session:
            channels = counted(session)
        pf = CounterMetricFamily("syndication_publish_failures", "Failed publishes of a channel's files (kept in "
                                 "the database: every process reports the same total).", labels=["channel"])
        pc = GaugeMetricFamily("syndication_publish_consecutive_failures", "Failed publishes of a channel since "
                               "it was last written (0 = healthy).", labels=["channel"])
        for h in channels:
            pf.add_metric([h.channel], h.failures_total)
            pc.add_metric([h.channel], h.consecutive_failures)
        yield pf
        yield pc

        dl = GaugeMetricFamily("syndication_dead_letters", "Dead letters not yet replayed, by task.", labels=["task"])
        for task, n in dead:
            dl.add_metric([task], int(n))
        yield dl

        sources = ops.source_rows(rt, now)
        by_state: dict[tuple[str, str], int] = {}
        for s in sources:
            by_state[(s["partner"], s["state"])] = by_state.get((s["partner"], s["state"]), 0) + 1
        sg = GaugeMetricFamily("syndication_sources", "Sources by partner and state.", labels=["partner", "state"])
        for (pid, state), n in sorted(by_state.items()):
            sg.add_metric([pid, state], n)
        yield sg
        og = GaugeMetricFamily("syndication_overdue_sources", "Sources due but not yet polled (saturation).")
        og.add_metric([], sum(1 for s in sources if s.get("overdue")))
        yield og

        q = ops.queues(rt)
        depth = GaugeMetricFamily("syndication_queue_depth", "Messages waiting per queue.", labels=["queue"])
        age = GaugeMetricFamily("syndication_queue_oldest_age_seconds", "Age of the oldest waiting message.",
                                labels=["queue"])
        for row in q.get("queues", []):
            depth.add_metric([row["queue"]], row["depth"])
            if row.get("oldest_age_seconds") is not None:
                age.add_metric([row["queue"]], row["oldest_age_seconds"])
        yield depth
        yield age
        running = GaugeMetricFamily("syndication_tasks_running", "Tasks being executed (or reserved by workers).")
        running.add_metric([], q.get("running") or 0)
        yield running
        if q.get("mode") == "scaled":
            up = GaugeMetricFamily("syndication_broker_up", "1 when the broker answered this scrape.")
            up.add_metric([], 0 if q.get("error") else 1)
            yield up
            workers = q.get("workers")
            if workers is not None:
                wg = GaugeMetricFamily("syndication_workers_online", "Celery workers answering a ping.")
                wg.add_metric([], len(workers))
                yield wg

        n_polls = int(dur[len(POLL_DURATION_BUCKETS)])
        poll_buckets: list[Any] = [(repr(b), int(c)) for b, c in zip(POLL_DURATION_BUCKETS, dur, strict=False)]
        poll_buckets.append(("+Inf", n_polls))
        yield HistogramMetricFamily("syndication_poll_duration_seconds", "Poll duration.", buckets=poll_buckets,
                                    sum_value=int(dur[-1]) / 1000.0)
        yield self._lag_histogram(now)

    def _lag_histogram(self, now: Any) -> HistogramMetricFamily:
        """Cumulative over every republished item, kept incrementally: settled items (up to a watermark
        id) are added once; items after it are counted afresh at each scrape."""
        with self._lock:
            acc = self._lag
            watermark, settled, unsettled = ops.republish_lags(self.rt, acc.watermark, now)
            for v in settled:
                acc.add(v)
            acc.watermark = watermark
            total = _LagAcc(list(acc.counts), acc.count, acc.sum, watermark)
        for v in unsettled:
            total.add(v)
        buckets: list[Any] = [(repr(b), c) for b, c in zip(LAG_BUCKETS, total.counts, strict=True)]
        buckets.append(("+Inf", total.count))
        return HistogramMetricFamily("syndication_publish_lag_seconds", "Partner publish time to republished.",
                                     buckets=buckets, sum_value=total.sum)


@dataclass
class _LagAcc:
    counts: list[int] = field(default_factory=lambda: [0] * len(LAG_BUCKETS))
    count: int = 0
    sum: float = 0.0
    watermark: int = 0

    def add(self, v: float) -> None:
        self.count += 1
        self.sum += v
        for i, b in enumerate(LAG_BUCKETS):
            if v <= b:
                self.counts[i] += 1


def registry_for(rt: Runtime) -> CollectorRegistry:
    """A registry holding only our database collector (no process/platform collectors: they would
    describe whichever web process was scraped, not the service)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DatabaseCollector(rt))
    return reg


def render(rt: Runtime) -> bytes:
    from prometheus_client import generate_latest

    reg = rt.extras.get("metrics.registry")
    if reg is None:
        reg = registry_for(rt)
        rt.extras["metrics.registry"] = reg
    return generate_latest(reg)
