"""/metrics: Prometheus text read from the database at scrape time (a custom Collector).

Every process role (embedded, web, workers) writes to the same database, so reading the figures from it
at scrape time gives the same numbers whichever web process is scraped, with no multi-process counter
files. Counters are rows of the `counters` table kept on write (syndication.db.counters), so a scrape reads a
few rows whatever the history and retention never lowers them; gauges are the current state (sources,
queues, open deliveries, dead letters). Prometheus naming: `_total` only on counters, which only go up.
Labels stay low-cardinality: partner id at most (plus outcome/state/queue enums).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select

from syndication.db import counters as figures
from syndication.db.counters import LAG_BUCKETS, POLL_DURATION_BUCKETS
from syndication.db.models import DeadLetter, Delivery
from syndication.db.session import transaction
from syndication.intake.hubs import STATES as SUBSCRIPTION_STATES
from syndication.kernel.clock import utcnow
from syndication.operations import ops
from syndication.publish.failures import ChannelHealth, counted
from syndication.runtime.context import Runtime

log = logging.getLogger(__name__)



class DatabaseCollector(Collector):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self) -> Iterator[Metric]:
        rt = self.rt
        now = utcnow()
        # Figures kept on write (syndication.db.counters): a few rows whatever the history. The lag histogram is
        # brought up to date first, so it is read with the rest.
        unsettled = self._settle_lags(now)
        with rt.sessions() as session:
            kept = figures.read(session)
            waiting = session.execute(select(Delivery.state, func.count())
                                      .where(Delivery.state.in_(OPEN_DELIVERY_STATES)).group_by(Delivery.state)).all()
            dead = session.execute(select(DeadLetter.task, func.count())
                                   .where(DeadLetter.replayed_at.is_(None)).group_by(DeadLetter.task)).all()
        by_name: dict[str, list[figures.Figure]] = {}
        for f in kept:
            by_name.setdefault(f.name, []).append(f)

        yield from _kept_families(by_name, {state: int(n) for state, n in waiting})
        with rt.sessions() as session:
            channels = counted(session)
        yield from _publish_failures(channels)
        yield _dead_letters({task: int(n) for task, n in dead})
        yield from _source_families(ops.source_rows(rt, now))
        yield from _queue_families(ops.queues(rt))
        yield from _histograms(by_name, unsettled)

    def _settle_lags(self, now: datetime) -> list[float]:
        """Add the lags of items settled since the stored watermark to the lag histogram, once across every
        process: the watermark moves by compare-and-set in the transaction that adds them, so two scrapes
        racing add each item once. At most LAG_SETTLE_BATCH items are read per scrape. Returns the lags of
        items republished past the first one still waiting (counted by the caller, not stored)."""
        rt = self.rt
        with rt.sessions() as session:
            watermark = figures.value(session, figures.LAG_WATERMARK)
        new_mark, settled, unsettled = ops.republish_lags(rt, watermark, now, limit=LAG_SETTLE_BATCH)
        if new_mark == watermark:
            return unsettled
        try:
            with transaction(rt.sessions) as session:
                if not figures.move_watermark(session, figures.LAG_WATERMARK, watermark, new_mark):
                    return []  # another process settled them first (and they are read from the table next time)
                total_ms = 0
                for lag in settled:
                    figures.count(session, figures.LAG_BUCKET, le=figures.bucket_label(lag, LAG_BUCKETS))
                    total_ms += int(lag * 1000)
                figures.count(session, figures.LAG_SUM, total_ms)
        except Exception:  # a scrape must answer even when the database is busy: the next one settles them
            log.warning("could not settle republish lags this scrape", exc_info=True)
            return []
        return unsettled


# Deliveries still moving (or failed and waiting for an operator): the states the gauge reports. Delivered ones
# are counted once, as they settle (syndication_deliveries_settled_total).
OPEN_DELIVERY_STATES = ("pending", "retrying", "failed")
LAG_SETTLE_BATCH = 20_000


def _family(family: Any, rows: list[figures.Figure], labels: tuple[str, ...]) -> Any:
    for f in sorted(rows, key=lambda f: [f.labels.get(k, "") for k in labels]):
        family.add_metric([f.labels.get(k, "") for k in labels], f.value)
    return family


def _single(by_name: dict[str, list[figures.Figure]], name: str) -> int:
    return sum(f.value for f in by_name.get(name, []))


def _histogram(name: str, doc: str, bounds: tuple[float, ...], rows: list[figures.Figure],
               sum_ms: int) -> HistogramMetricFamily:
    """Cumulative buckets from the stored non-cumulative ones (one row per `le`)."""
    per = {f.labels.get("le"): f.value for f in rows}
    buckets: list[Any] = []
    running = 0
    for b in bounds:
        running += per.get(repr(b), 0)
        buckets.append((repr(b), running))
    running += per.get("+Inf", 0)
    buckets.append(("+Inf", running))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum_ms / 1000.0)


def _kept_families(by_name: dict[str, list[figures.Figure]], waiting: dict[str, int]) -> Iterator[Metric]:
    """The counters kept on write, and the deliveries still open (every open state, from zero)."""
    yield _family(CounterMetricFamily("syndication_polls", "Poll attempts by partner and outcome.",
                                      labels=["partner", "outcome"]), by_name.get(figures.POLLS, []),
                  ("partner", "outcome"))
    yield _family(CounterMetricFamily(
        "syndication_items", "Items received (polled, pushed and from drop folders), by partner and outcome "
        "(new, updated, unchanged, rejected).", labels=["partner", "outcome"]), by_name.get(figures.ITEMS, []),
        ("partner", "outcome"))
    yield _family(GaugeMetricFamily("syndication_items_stored", "Items in the database by partner and status.",
                                    labels=["partner", "status"]), by_name.get(figures.ITEMS_STORED, []),
                  ("partner", "status"))
    yield _family(CounterMetricFamily("syndication_notices", "Republishing notices created, by kind.",
                                      labels=["kind"]), by_name.get(figures.NOTICES, []), ("kind",))
    dg = GaugeMetricFamily("syndication_deliveries", "Notice deliveries waiting (pending, retrying) or given "
                           "up (failed, until retried or pruned), by state.", labels=["state"])
    for state in OPEN_DELIVERY_STATES:
        dg.add_metric([state], waiting.get(state, 0))
    yield dg
    yield _family(CounterMetricFamily("syndication_deliveries_settled", "Notice deliveries that reached a "
                                      "final state (delivered, or failed after their retries).",
                                      labels=["state"]), by_name.get(figures.DELIVERIES_SETTLED, []), ("state",))
    yield _family(CounterMetricFamily("syndication_delivery_attempts", "Notice delivery POSTs by outcome "
                                      "(ok, error).", labels=["outcome"]),
                  by_name.get(figures.DELIVERY_ATTEMPTS, []), ("outcome",))
    yield _family(CounterMetricFamily("syndication_retention_pruned", "Rows removed by retention, by table.",
                                      labels=["table"]), by_name.get(figures.PRUNED, []), ("table",))
    yield _family(CounterMetricFamily("syndication_websub_distributions", "Content pushed by partners' WebSub "
                                      "hubs, by partner and outcome (taken, or ignored: bad signature, paused "
                                      "source, not a feed).", labels=["partner", "outcome"]),
                  by_name.get(figures.WEBSUB_DISTRIBUTIONS, []), ("partner", "outcome"))


def _publish_failures(channels: list[ChannelHealth]) -> Iterator[Metric]:
    pf = CounterMetricFamily("syndication_publish_failures", "Failed publishes of a channel's files (kept in "
                             "the database: every process reports the same total).", labels=["channel"])
    pc = GaugeMetricFamily("syndication_publish_consecutive_failures", "Failed publishes of a channel since "
                           "it was last written (0 = healthy).", labels=["channel"])
    for h in channels:
        pf.add_metric([h.channel], h.failures_total)
        pc.add_metric([h.channel], h.consecutive_failures)
    yield pf
    yield pc


def _dead_letters(waiting: dict[str, int]) -> Metric:
    dl = GaugeMetricFamily("syndication_dead_letters", "Dead letters not yet replayed, by task.", labels=["task"])
    for task, n in waiting.items():
        dl.add_metric([task], n)
    return dl


def _source_families(sources: list[dict[str, Any]]) -> Iterator[Metric]:
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
    # [wire] every state from zero, so an alert on failed/denied/expired has a series to watch
    subs = {state: 0 for state in SUBSCRIPTION_STATES}
    for s in sources:
        if s.get("websub"):
            subs[s["websub"]["state"]] = subs.get(s["websub"]["state"], 0) + 1
    wg = GaugeMetricFamily("syndication_websub_subscriptions", "Our subscriptions to partners' WebSub hubs, by "
                           "state (failed, denied, expired: those sources are polled alone).", labels=["state"])
    for state, n in subs.items():
        wg.add_metric([state], n)
    yield wg


def _queue_families(q: dict[str, Any]) -> Iterator[Metric]:
    """Queue depth and age, running tasks; the broker and its workers in the scaled mode only."""
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


def _histograms(by_name: dict[str, list[figures.Figure]], unsettled: list[float]) -> Iterator[Metric]:
    yield _histogram("syndication_poll_duration_seconds", "Poll duration.", POLL_DURATION_BUCKETS,
                     by_name.get(figures.POLL_DURATION_BUCKET, []), _single(by_name, figures.POLL_DURATION_MS))
    # Items republished after one still waiting (not yet settled) are added afresh at each scrape.
    lag_rows = list(by_name.get(figures.LAG_BUCKET, []))
    lag_rows += [figures.Figure(figures.LAG_BUCKET, {"le": figures.bucket_label(v, LAG_BUCKETS)}, 1)
                 for v in unsettled]
    yield _histogram("syndication_publish_lag_seconds", "Partner publish time to republished.", LAG_BUCKETS,
                     lag_rows, _single(by_name, figures.LAG_SUM) + sum(int(v * 1000) for v in unsettled))


def registry_for(rt: Runtime) -> CollectorRegistry:
    """A registry holding only our database collector (no process/platform collectors: they would
    describe whichever web process was scraped, not the service)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DatabaseCollector(rt))
    return reg


def render(rt: Runtime) -> bytes:
    reg = rt.extras.get("metrics.registry")
    if reg is None:
        reg = registry_for(rt)
        rt.extras["metrics.registry"] = reg
    return generate_latest(reg)
