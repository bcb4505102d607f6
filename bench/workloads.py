"""The workloads. Each returns a dict of figures (medians over repeats) plus its in-run baseline."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import httpx
from sqlalchemy import func, select

from bench import procs
from bench.common import REPO, article, median, percentile, rss_feed, rss_feed_of_size


@dataclass(frozen=True)
class Size:
    feeds: int
    items: int
    repeats: int
    scaled_repeats: int
    latency_store: int
    pushes: int
    publish_partners: int
    publish_items: int
    serve_seconds: int
    memory_mb: int
    cap_probe_mb: int
    budget: float  # seconds one ingest round may take before it stops starting polls (figure = stored/elapsed)
    real_feeds: int | None = None  # workload `real`: how many of the corpus's feeds (None: all 112)
    real_repeats: int = 3
    metric_polls: int = 1_000_000  # workload `metrics`: poll rows in the store


FULL = Size(feeds=200, items=50, repeats=3, scaled_repeats=1, latency_store=10_000, pushes=50,
            publish_partners=19, publish_items=100, serve_seconds=5, memory_mb=20, cap_probe_mb=100,
            budget=45)
QUICK = Size(feeds=6, items=10, repeats=1, scaled_repeats=1, latency_store=60, pushes=5,
             publish_partners=3, publish_items=10, serve_seconds=1, memory_mb=2, cap_probe_mb=20,
             budget=60, real_feeds=10, real_repeats=1, metric_polls=20_000)


def partner_config(i: int, base_url: str, interval: int = 3600) -> dict[str, Any]:
    return {"id": f"agency{i}", "name": f"Agency {i}", "credit": f"Agency {i}",
            "sources": [{"kind": "feed", "url": f"{base_url}/feed{i}.xml", "interval": interval}]}


def base_settings(data_dir: Path, **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "data_dir": str(data_dir),
        "fetch": {"allow_private_addresses": True},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
        else:
            data[k] = v
    return data


def write_feeds(directory: Path, size: Size) -> list[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    bodies = []
    for i in range(size.feeds):
        body = rss_feed(i, size.items)
        (directory / f"feed{i}.xml").write_bytes(body)
        bodies.append(body)
    return bodies


def feedparser_items_per_s(bodies: list[bytes]) -> float:
    t0 = time.perf_counter()
    n = 0
    for body in bodies:
        n += len(feedparser.parse(io.BytesIO(body), sanitize_html=False).entries)
    return n / (time.perf_counter() - t0)


# ---------------------------------------------------------------- ingest (embedded) + repoll


def _runtime(data: dict[str, Any]) -> Any:
    from syndication.kernel.settings import load_settings
    from syndication.runtime.context import open_runtime

    return open_runtime(load_settings(None, **data))


def _claim_all(rt: Any) -> list[tuple[int, str]]:
    from syndication.db.models import Source
    from syndication.kernel.clock import utcnow
    from syndication.runtime.schedule import claim_sources

    with rt.sessions() as s:
        ids = list(s.scalars(select(Source.id).where(Source.kind == "feed").order_by(Source.id)))
    return claim_sources(rt.sessions, ids, utcnow(), lease_seconds=3600)


def _poll_round(rt: Any, budget: float | None = None) -> tuple[float, list[Any], bool]:
    """Poll every feed source once on the executor's thread count; stop starting polls after `budget` s."""
    from concurrent.futures import wait

    from syndication.runtime import jobs

    claimed = _claim_all(rt)
    t0 = time.perf_counter()
    ex = ThreadPoolExecutor(rt.settings.schedule.executor_threads)
    futures = [ex.submit(jobs.poll_source, rt, sid, token) for sid, token in claimed]
    done, pending = wait(futures, timeout=budget)
    truncated = bool(pending)
    ex.shutdown(wait=True, cancel_futures=True)
    elapsed = time.perf_counter() - t0
    reports = [f.result() for f in futures if f.done() and not f.cancelled()]
    rt.extras["bench_unpolled"] = [c for c, f in zip(claimed, futures, strict=True) if f.cancelled()]
    return elapsed, reports, truncated


def _complete_round(rt: Any) -> None:
    """Set-up after an over-budget round (not timed): poll the feeds it did not reach, story search
    skipped, so repoll has all 200 feeds and latency has its full store."""
    from syndication.runtime import jobs

    with no_story_matching(), ThreadPoolExecutor(rt.settings.schedule.executor_threads) as ex:
        list(ex.map(lambda c: jobs.poll_source(rt, c[0], c[1]), rt.extras.pop("bench_unpolled", [])))


def _count_items(rt: Any) -> tuple[int, int]:
    from syndication.db.models import Item

    with rt.sessions() as s:
        total = s.scalar(select(func.count()).select_from(Item)) or 0
        attributed = s.scalar(select(func.count()).select_from(Item).where(Item.attribution.is_not(None))) or 0
    return total, attributed


def ingest_embedded(size: Size, work: Path, base_url: str, bodies: list[bytes],
                    keep: Path | None = None, parse_processes: int = 0) -> dict[str, Any]:
    """`parse_processes` > 0: the embedded runtime with that many parse processes (syndication/runtime/cpu.py),
    started before the clock does, as a running service has them."""
    from syndication.runtime import cpu

    expected = size.feeds * size.items
    rates, repolls, baselines = [], [], []
    truncated = False
    for r in range(size.repeats):
        baselines.append(feedparser_items_per_s(bodies[:40]))  # a rate: 40 documents measure it well enough
        data_dir = work / f"embedded{r}-{parse_processes}"
        rt = _runtime(base_settings(data_dir, partners=[partner_config(i, base_url) for i in range(size.feeds)],
                                    schedule={"parse_processes": parse_processes}))
        pool = cpu.attach(rt)
        if pool is not None:
            pool.warm()
        try:
            elapsed, reports, truncated = _poll_round(rt, size.budget)
            total, attributed = _count_items(rt)
            if attributed != total or (total != expected and not truncated):
                errors = [rep.error for rep in reports if rep and rep.error][:3]
                raise RuntimeError(f"ingest stored {total}/{expected} items ({attributed} attributed): {errors}")
            rates.append(total / elapsed)
            if truncated:
                _complete_round(rt)
            if not truncated or r == 0:
                repoll, reports, _ = _poll_round(rt)
                statuses = {rep.status for rep in reports if rep}
                if statuses != {"not_modified"}:
                    raise RuntimeError(f"repoll was not all 304s: {statuses}")
                repolls.append(repoll)
        finally:
            rt.close()
        if keep is not None and r == 0:
            shutil.copytree(data_dir, keep, dirs_exist_ok=True)
        if truncated:
            break  # over budget: one round is all we can afford
    fp = median(baselines)
    items_s = median(rates)
    return {
        "parse_processes": parse_processes,
        "items": expected,
        "stored": total,
        "truncated_at_budget_s": size.budget if truncated else None,
        "items_per_s": round(items_s, 1),
        "baseline_feedparser_items_per_s": round(fp, 1),
        "ratio_to_baseline": round(items_s / fp, 3),
        "runs": [round(x, 1) for x in rates],
        "repoll_s": round(median(repolls), 3) if repolls else None,
    }


def repoll_baseline(size: Size, base_url: str, etags: dict[str, str], threads: int = 4) -> float:
    """Bare conditional GETs of the same URLs over one pooled httpx client: the ceiling for a round."""
    with httpx.Client(trust_env=False) as client:
        def get(i: int) -> int:
            name = f"feed{i}.xml"
            return client.get(f"{base_url}/{name}", headers={"If-None-Match": etags[name]}).status_code

        t0 = time.perf_counter()
        with ThreadPoolExecutor(threads) as ex:
            codes = set(ex.map(get, range(size.feeds)))
        assert codes == {304}, codes
        return time.perf_counter() - t0


# ---------------------------------------------------------------- ingest (scaled: Celery workers)


def ingest_scaled(size: Size, work: Path, base_url: str, workers: int) -> dict[str, Any]:
    expected = size.feeds * size.items
    rates = []
    truncated = False
    for r in range(size.scaled_repeats):
        with procs.postgres_database() as db_url, procs.redis_database() as broker:
            data_dir = work / f"scaled{workers}-{r}"
            data = base_settings(data_dir, database_url=db_url, broker_url=broker,
                                 partners=[partner_config(i, base_url) for i in range(size.feeds)])
            cfg = procs.write_toml(work / f"scaled{workers}-{r}.toml", data)
            rt = _runtime(data)
            env = procs.clean_env(SYNDICATION_CONFIG=str(cfg))
            started = []
            try:
                for w in range(workers):
                    started.append(subprocess.Popen(
                        [sys.executable, "-m", "bench.celery_worker", "-A", "workers", "worker",
                         "-Q", "fetch,publish,notify", "--concurrency", "1", "-n", f"bench{w}-{r}@%h",
                         "--loglevel", "WARNING", "--without-gossip",
                         "--without-mingle"],
                        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(work / f"worker{w}.log", "w"),  # noqa: SIM115
                    ))
                from syndication.runtime.dispatch import CeleryDispatcher

                disp = CeleryDispatcher(rt.settings)
                deadline = time.monotonic() + 60
                while len(disp.app.control.ping(timeout=0.5)) < workers:
                    if time.monotonic() > deadline:
                        raise RuntimeError("celery workers did not answer ping within 60 s")
                claimed = _claim_all(rt)
                t0 = time.perf_counter()
                for sid, token in claimed:
                    disp.poll(sid, token)
                deadline = time.monotonic() + size.budget * 0.75
                while True:
                    total, attributed = _count_items(rt)
                    if total >= expected and attributed >= expected:
                        break
                    if time.monotonic() > deadline:
                        truncated = True
                        break
                    time.sleep(0.05)
                rates.append(total / (time.perf_counter() - t0))
            finally:
                for p in started:
                    procs.stop(p, timeout=20)
                rt.close()
    return {"workers": workers, "items_per_s": round(median(rates), 1), "runs": [round(x, 1) for x in rates],
            "truncated_at_budget_s": size.budget * 0.75 if truncated else None}


# ---------------------------------------------------------------- latency


def push_available() -> bool:
    try:
        from syndication.partners import keys  # noqa: F401
    except ImportError:
        return False
    return True


def _one_item_feed(partner: int, n: int, marker: str) -> bytes:
    a = article(partner, 100_000 + n, seed=7)
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><link>https://x.example/</link>'
        f"<description>d</description><item><title>{marker}</title><link>{a.link}</link>"
        f"<guid isPermaLink=\"false\">latency-{n}</guid><description><![CDATA[{a.html}]]></description></item>"
        "</channel></rss>"
    ).encode()


def _websub_feed(hub_url: str, topic: str, items: str = "") -> bytes:
    """The wire partner's feed: RSS advertising its hub (atom:link rel=hub) and its topic (rel=self)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">'
        f'<channel><title>Wire</title><link>https://wire.example/</link><description>d</description>'
        f'<atom:link rel="hub" href="{hub_url}"/><atom:link rel="self" href="{topic}"/>{items}</channel></rss>'
    ).encode()


def latency(size: Size, work: Path, store_dir: Path, base_url: str) -> dict[str, Any]:
    """Start `syndication run` on a store of N items; push one item at a time; time until it is served.

    Then the same over WebSub ([wire]): a partner feed advertising a hub we run here (bench.hub) is
    subscribed to by the service; the hub distributes one new item at a time, signed, to our callback, and
    the figure is the time from the hub's POST to the item in /feeds/all.atom."""
    from bench.hub import running_hub

    with running_hub() as hub:
        topic = hub.url.replace("/hub", "/wire.xml")  # the hub also serves the feed it is the hub of
        hub.documents["/wire.xml"] = (_websub_feed(hub.url, topic), "application/rss+xml")
        return _latency(size, work, store_dir, base_url, hub, topic)


def _latency(size: Size, work: Path, store_dir: Path, base_url: str, hub: Any, topic: str) -> dict[str, Any]:
    port = procs.free_port()
    partners = [partner_config(i, base_url, interval=86_400) for i in range(size.feeds)]
    partners[0]["sources"].append({"kind": "push"})
    partners.append({"id": "wire", "name": "Wire", "credit": "Wire agency",
                     "sources": [{"kind": "feed", "url": topic, "interval": 86_400}]})
    data = base_settings(
        store_dir, partners=partners,
        schedule={"tick": 0.25}, publish={"debounce": 0.2, "refresh_interval": 3600},
        public_url=f"http://127.0.0.1:{port}",
    )
    cfg = procs.write_toml(work / "latency.toml", data)
    log = open(work / "latency-run.log", "w")  # noqa: SIM115 - held for the subprocess's life
    proc = subprocess.Popen(
        [sys.executable, "-m", "syndication.cli.app", "run", "--port", str(port)],
        env=procs.clean_env(SYNDICATION_CONFIG=str(cfg)), cwd=work, stdout=log, stderr=subprocess.STDOUT,
    )
    feed_url = f"http://127.0.0.1:{port}/feeds/all.atom"
    top_up_store(store_dir, size.latency_store, base_url, size.feeds)
    rt = None
    try:
        procs.wait_http(feed_url, timeout=120, proc=proc)
        rt = _runtime({**data, "partners": []})
        # Set-up, untimed: the store was built by calling the poll job directly, so its item events were
        # never relayed; a running service relays them as they come. Drain that backlog first.
        from syndication.runtime import jobs

        jobs.relay(rt)
        from syndication.db.models import Item

        with rt.sessions() as s:
            store = s.scalar(select(func.count()).select_from(Item)) or 0
        mode = "push-api" if push_available() else "direct-store"
        sender = _push_sender(rt, port) if mode == "push-api" else _store_sender(rt)
        times = []
        with httpx.Client(trust_env=False) as client:
            for n in range(size.pushes):
                marker = f"Latency probe {n} {time.time_ns()}"
                t0 = time.perf_counter()
                sender(n, marker)
                while marker not in client.get(feed_url).text:
                    if time.perf_counter() - t0 > 30:
                        raise RuntimeError("pushed item did not appear in /feeds/all.atom within 30 s")
                    time.sleep(0.005)
                times.append(time.perf_counter() - t0)
                time.sleep(0.05)
            websub = _websub_latency(size, hub, topic, client, feed_url)
        return {"mode": mode, "store_items": store, "pushes": len(times),
                "p50_s": round(percentile(times, 50), 3), "p95_s": round(percentile(times, 95), 3),
                "config": "schedule.tick=0.25 publish.debounce=0.2", "websub": websub}
    finally:
        if rt is not None:
            rt.close()
        procs.stop(proc)
        log.close()


def _websub_latency(size: Size, hub: Any, topic: str, client: httpx.Client, feed_url: str) -> dict[str, Any]:
    """The service polled the wire feed at start and subscribed at the hub; from the verified subscription
    on, each distribution's time from the hub's POST to the item in the published feed."""
    if not hub.wait(lambda h: any(s.topic == topic for s in h.subscribers.values()), timeout=60):
        raise RuntimeError(f"the service never subscribed at the bench hub (requests: {len(hub.requests)}, "
                           f"verifications: {hub.verifications})")
    times = []
    for n in range(size.pushes):
        marker = f"WebSub probe {n} {time.time_ns()}"
        a = article(1, 300_000 + n, seed=11)
        item = (f"<item><title>{marker}</title><link>{a.link}</link><guid isPermaLink=\"false\">websub-{n}</guid>"
                f"<description><![CDATA[{a.html}]]></description></item>")
        t0 = time.perf_counter()
        answers = hub.distribute(topic, _websub_feed(hub.url, topic, item), "application/rss+xml")
        if not answers or answers[0].status_code != 202:
            raise RuntimeError(f"WebSub distribution refused: {[(r.status_code, r.text[:200]) for r in answers]}")
        while marker not in client.get(feed_url).text:
            if time.perf_counter() - t0 > 30:
                raise RuntimeError("distributed item did not appear in /feeds/all.atom within 30 s")
            time.sleep(0.005)
        times.append(time.perf_counter() - t0)
        time.sleep(0.05)
    return {"pushes": len(times), "p50_s": round(percentile(times, 50), 3),
            "p95_s": round(percentile(times, 95), 3), "max_s": round(max(times), 3)}


def top_up_store(store_dir: Path, target: int, base_url: str, feeds: int) -> int:
    """Bring the store to `target` items when the ingest round stopped early (over budget): the other
    feeds' items are stored directly (parse, normalise, store_items: fingerprints included), with story
    matching skipped for the synthetic items, which are all distinct stories anyway."""
    import syndication.pipeline.ingest as ingest
    from syndication.db.models import Item, Partner
    from syndication.db.session import transaction
    from syndication.intake.parse import parse_document
    from syndication.kernel.clock import utcnow
    from syndication.pipeline.normalise import normalise_feed
    from syndication.runtime import jobs

    rt = _runtime(base_settings(store_dir, partners=[partner_config(i, base_url) for i in range(feeds)]))
    try:
        with rt.sessions() as s:
            have = {p for (p,) in s.execute(select(Item.partner_id).distinct())}
            total = s.scalar(select(func.count()).select_from(Item)) or 0
        feed_dir = store_dir.parent / "feeds"
        for i in range(feeds):
            if total >= target:
                break
            if f"agency{i}" in have:
                continue
            parsed = parse_document((feed_dir / f"feed{i}.xml").read_bytes(), {"content-type": "application/rss+xml"},
                                    f"{base_url}/feed{i}.xml")
            with rt.sessions() as s:
                policy = jobs.policy_of(s.get(Partner, f"agency{i}"))
            now = utcnow()
            items, rejections = normalise_feed(parsed, policy, now=now, document_url=f"{base_url}/feed{i}.xml")
            with no_story_matching(), transaction(rt.sessions) as session:
                total += ingest.store_items(session, items, rejections, now=now, source_id=None).new
        return total
    finally:
        rt.close()


@contextmanager
def no_story_matching() -> Iterator[None]:
    """Set-up only (never inside a measurement): store items with their fingerprints but without the
    cross-partner story search, which the synthetic items (all distinct) would not match anyway."""
    import syndication.pipeline.ingest as ingest
    from syndication.pipeline.stories import fingerprint_row

    def fingerprint_only(session: Any, row: Any, now: datetime) -> None:
        fingerprint_row(row)

    original = ingest.assign_story
    ingest.assign_story = fingerprint_only
    try:
        yield
    finally:
        ingest.assign_story = original


def _store_sender(rt: Any) -> Callable[[int, str], None]:
    """Fallback while the push API is absent: store + outbox event exactly as a push would, in this
    process; the running service's tick relays the event and publishes (the same path as a push)."""
    from syndication.db.session import transaction
    from syndication.intake.parse import parse_document
    from syndication.kernel.domain import ParsedFeed
    from syndication.pipeline.ingest import store_items
    from syndication.pipeline.normalise import normalise_feed
    from syndication.runtime import jobs

    with rt.sessions() as s:
        from syndication.db.models import Partner

        partner = s.get(Partner, "agency0")
        policy = jobs.policy_of(partner)

    def send(n: int, marker: str) -> None:
        from syndication.kernel.clock import utcnow

        parsed: ParsedFeed = parse_document(_one_item_feed(0, n, marker), {"content-type": "application/rss+xml"})
        now = utcnow()
        items, rejections = normalise_feed(parsed, policy, now=now)
        with transaction(rt.sessions) as session:
            store_items(session, items, rejections, now=now, source_id=None)

    return send


def _push_sender(rt: Any, port: int) -> Callable[[int, str], None]:
    """POST /api/v1/partners/{id}/items with a Bearer key made by syndication.partners.keys."""
    from syndication.db.session import transaction
    from syndication.kernel.clock import utcnow
    from syndication.partners import keys

    with transaction(rt.sessions) as session:
        issued = keys.issue_key(session, "agency0", keys.load_pepper(rt.settings), utcnow())
    token = issued.key
    client = httpx.Client(trust_env=False, headers={"Authorization": f"Bearer {token}"})
    url = f"http://127.0.0.1:{port}/api/v1/partners/agency0/items"

    def send(n: int, marker: str) -> None:
        a = article(0, 200_000 + n, seed=9)
        resp = client.post(url, json={"items": [{"id": f"push-{n}-{time.time_ns()}", "title": marker,
                                                "url": a.link, "content_html": a.html}]})
        if resp.status_code >= 300:
            raise RuntimeError(f"push refused: HTTP {resp.status_code} {resp.text[:200]}")

    return send


# ---------------------------------------------------------------- publish


def publish(size: Size, work: Path) -> dict[str, Any]:
    from syndication.db.models import Partner
    from syndication.db.session import transaction
    from syndication.kernel.clock import utcnow
    from syndication.kernel.domain import ParsedEntry, ParsedFeed
    from syndication.pipeline.ingest import store_items
    from syndication.pipeline.normalise import normalise_feed
    from syndication.publish.channels import channel_specs, partner_infos, select_items
    from syndication.publish.feeds import RENDERERS, FeedContext
    from syndication.publish.publisher import FORMATS
    from syndication.runtime import jobs

    data_dir = work / "publish"
    partners = [{"id": f"agency{i}", "name": f"Agency {i}"} for i in range(size.publish_partners)]
    rt = _runtime(base_settings(data_dir, partners=partners))

    def entry(p: int, i: int) -> ParsedEntry:
        a = article(p, i, seed=3)
        return ParsedEntry(guid=a.guid, link=a.link, title=a.title, content_html=a.html, summary_html=None,
                           authors=(a.author,), categories=("news",), published=a.published)

    def store(p: int, entries: list[ParsedEntry]) -> None:
        with rt.sessions() as s:
            policy = jobs.policy_of(s.get(Partner, f"agency{p}"))
        now = utcnow()
        items, rej = normalise_feed(ParsedFeed("t", None, None, tuple(entries), "rss"), policy, now=now)
        with transaction(rt.sessions) as session:
            store_items(session, items, rej, now=now, source_id=None)

    try:
        with no_story_matching():  # set-up; the measured part below is publishing
            for p in range(size.publish_partners):
                store(p, [entry(p, i) for i in range(size.publish_items)])
        jobs.publish_all(rt)
        dirty_ms, all_ms, written, changed, total_files, render_ms = [], [], [], [], [], []
        for r in range(max(3, size.repeats)):
            with no_story_matching():
                store(r % size.publish_partners, [entry(r % size.publish_partners, 10_000 + r)])
            t0 = time.perf_counter()
            res = jobs.publish_dirty(rt)
            dirty_ms.append((time.perf_counter() - t0) * 1000)
            changed.append(sum(1 for x in res if x.changed))
            written.append(sum(Path(x.path).stat().st_size for x in res if x.changed))
            t0 = time.perf_counter()
            res_all = jobs.publish_all(rt)
            all_ms.append((time.perf_counter() - t0) * 1000)
            total_files.append(len(res_all))
            if any(x.changed for x in res_all):
                raise RuntimeError("publish_all after publish_dirty rewrote files that had not changed")
            # Baseline: rendering the same channels from preloaded items (no database, no files).
            with rt.sessions() as s:
                specs = channel_specs(rt.settings, list(s.scalars(select(Partner))))
                infos = partner_infos(s)
                now = utcnow()
                selected = [(spec, select_items(s, spec, infos, now)) for spec in specs]
            ctx = FeedContext(public_url=rt.settings.public_url, ttl_minutes=rt.settings.publish.ttl)
            t0 = time.perf_counter()
            for spec, items in selected:
                for fmt in FORMATS:
                    RENDERERS[fmt](spec, items, ctx)
            render_ms.append((time.perf_counter() - t0) * 1000)
        return {
            "channels": len(specs), "formats": len(FORMATS), "files": median(total_files),
            "publish_dirty_ms": round(median(dirty_ms), 1),
            "files_changed": median(changed), "bytes_written": int(median(written)),
            "publish_all_ms": round(median(all_ms), 1),
            "baseline_render_all_ms": round(median(render_ms), 1),
        }
    finally:
        rt.close()


# ---------------------------------------------------------------- serve


def _wrk(url: str, seconds: int, headers: dict[str, str]) -> float:
    cmd = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split(":", 1)[1])
    raise RuntimeError(f"no Requests/sec in wrk output: {out[-300:]}")


def _httpx_load(url: str, seconds: int, headers: dict[str, str]) -> float:
    """Fallback load generator: a separate Python process with 8 keep-alive threads."""
    code = (
        "import httpx, sys, time, json, threading\n"
        "url, secs, hdrs = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])\n"
        "n = [0]\nend = time.perf_counter() + secs\n"
        "def run():\n"
        "    with httpx.Client(trust_env=False, headers=hdrs) as c:\n"
        "        while time.perf_counter() < end:\n"
        "            c.get(url); n[0] += 1\n"
        "ts = [threading.Thread(target=run) for _ in range(8)]\n"
        "t0 = time.perf_counter()\n[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(n[0] / (time.perf_counter() - t0))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, url, str(seconds), json.dumps(headers)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def serve(size: Size, work: Path, data_dir: Path) -> dict[str, Any]:
    load = _wrk if shutil.which("wrk") else _httpx_load
    port = procs.free_port()
    env = procs.clean_env(SYNDICATION_DATA_DIR=str(data_dir))
    log = open(work / "serve.log", "w")  # noqa: SIM115 - held for the subprocesses' life
    results: dict[str, Any] = {"load_generator": "wrk -t1 -c16" if load is _wrk else "python httpx, 8 threads"}
    proc = subprocess.Popen([sys.executable, "-m", "syndication.cli.app", "web", "--port", str(port)],
                            env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/feeds/all.atom"
        procs.wait_http(url, timeout=60, proc=proc)
        etag = httpx.get(url).headers["etag"]
        assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
        results["bytes"] = len(httpx.get(url).content)
        results["rps_200"] = round(load(url, size.serve_seconds, {}), 1)
        results["rps_304"] = round(load(url, size.serve_seconds, {"If-None-Match": etag}), 1)
    finally:
        procs.stop(proc)
    # Baseline: a bare ASGI app on the same uvicorn serving the same bytes (the server's own ceiling).
    port = procs.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.asgi_baseline:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log"],
        env={**env, "BENCH_FILE": str(data_dir / "public" / "feeds" / "all.atom")}, cwd=REPO, stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/feeds/all.atom"
        procs.wait_http(url, timeout=60, proc=proc)
        etag = httpx.get(url).headers["etag"]
        results["baseline_bare_asgi_rps_200"] = round(load(url, size.serve_seconds, {}), 1)
        results["baseline_bare_asgi_rps_304"] = round(load(url, size.serve_seconds, {"If-None-Match": etag}), 1)
    finally:
        procs.stop(proc)
        log.close()
    return results


# ---------------------------------------------------------------- memory


def memory(size: Size, work: Path) -> dict[str, Any]:
    feeds = work / "memfeeds"
    feeds.mkdir(exist_ok=True)
    body, n_items = rss_feed_of_size(size.memory_mb * 1_000_000, seed=11)
    (feeds / "big.xml").write_bytes(body)
    del body
    out: dict[str, Any] = {"feed_bytes": (feeds / "big.xml").stat().st_size, "feed_items": n_items}
    with procs.feed_server(feeds) as base:
        def probe(*args: str) -> dict[str, Any]:
            res = subprocess.run([sys.executable, "-m", "bench.memprobe", *args], capture_output=True, text=True,
                                 env=procs.clean_env(), cwd=REPO, timeout=600)
            if res.returncode != 0:
                raise RuntimeError(f"memprobe {args} failed: {res.stderr[-500:]}")
            return dict(json.loads(res.stdout.strip().splitlines()[-1]))

        cap = max(25 * 1024 * 1024, out["feed_bytes"] * 2)
        ing = probe("ingest", f"{base}/big.xml", str(work / "mem-ingest"), str(cap))
        out["ingest_peak_rss_mb"] = ing["peak_rss_mb"]
        out["ingest_stored"] = ing["stored"]
        out["ingest_cap_bytes"] = cap
        out["baseline_feedparser_peak_rss_mb"] = probe("feedparser", f"{base}/big.xml")["peak_rss_mb"]
        cap_bytes = size.cap_probe_mb * 1_000_000
        for variant, suffix in (("declared", "?declared"), ("streamed", "")):
            ref = probe("ingest", f"{base}/stream/{cap_bytes}{suffix}", str(work / f"mem-cap-{variant}"))
            out[f"cap_{variant}_refused"] = ref["status"] == "error" and "body limit" in (ref["error"] or "")
            out[f"cap_{variant}_error"] = ref["error"]
            out[f"cap_{variant}_peak_rss_mb"] = ref["peak_rss_mb"]
    return out


def tmpdir() -> Any:
    """A scratch directory, removed afterwards unless BENCH_KEEP=1 (then its path is printed)."""
    import contextlib
    import os

    if os.environ.get("BENCH_KEEP") == "1":
        path = tempfile.mkdtemp(prefix="synd-bench-")
        print(f"keeping scratch directory {path}", file=sys.stderr)
        return contextlib.nullcontext(path)
    return tempfile.TemporaryDirectory(prefix="synd-bench-")


# ---------------------------------------------------------------- metrics ([hardening] 6)


def metrics(size: Size, work: Path, database_url: str | None = None) -> dict[str, Any]:
    """/metrics over a store holding `size.metric_polls` poll rows (50 sources): GET /metrics in-process (the
    real app, loopback), median of 5 scrapes. Baseline (same run): the query /metrics ran before counters were
    kept on write (the polls aggregate by partner and outcome plus the duration buckets), over the same rows."""
    from fastapi.testclient import TestClient
    from sqlalchemy import case, insert

    from syndication.db import counters as figures
    from syndication.db.models import Poll, Source
    from syndication.db.session import transaction
    from syndication.kernel.clock import utcnow
    from syndication.web.app import create_app

    data = base_settings(work / "metrics", partners=[partner_config(i, "http://127.0.0.1:9", 3600)
                                                     for i in range(50)])
    if database_url:
        data["database_url"] = database_url
    rt = _runtime(data)
    with rt.sessions() as s:
        sources = list(s.execute(select(Source.id, Source.partner_id)))
    owner = dict(sources)
    now = utcnow()
    t0 = time.perf_counter()
    batch = 20_000
    written = 0
    while written < size.metric_polls:
        n = min(batch, size.metric_polls - written)
        rows = []
        for k in range(n):
            sid, _pid = sources[(written + k) % len(sources)]
            ms = (written + k) % 900
            rows.append({"source_id": sid, "started_at": now, "duration_ms": ms,
                         "outcome": "ok" if k % 10 else "not_modified", "http_status": 200, "new": k % 3,
                         "updated": 0, "unchanged": 10, "rejected": 0, "error": None})
        with transaction(rt.sessions) as s:
            s.execute(insert(Poll), rows)
            # The counters those polls would have moved, kept on write as jobs._finish does (summed per batch).
            for r in rows:
                figures.count(s, figures.POLLS, partner=owner[r["source_id"]], outcome=r["outcome"])
                figures.count(s, figures.POLL_DURATION_BUCKET,
                              le=figures.bucket_label(r["duration_ms"] / 1000, figures.POLL_DURATION_BUCKETS))
            figures.count(s, figures.POLL_DURATION_MS, sum(r["duration_ms"] for r in rows))
        written += n
    fill_s = time.perf_counter() - t0
    client = TestClient(create_app(rt), client=("127.0.0.1", 50123))
    assert client.get("/metrics").status_code == 200  # warm: imports, the first lag settlement
    times = []
    for _ in range(5):
        t = time.perf_counter()
        resp = client.get("/metrics")
        times.append(time.perf_counter() - t)
        assert resp.status_code == 200
    base = []
    for _ in range(3):
        t = time.perf_counter()
        with rt.sessions() as s:
            s.execute(select(Source.partner_id, Poll.outcome, func.count(),
                             *(func.coalesce(func.sum(getattr(Poll, k)), 0)
                               for k in ("new", "updated", "unchanged", "rejected")))
                      .join(Source, Source.id == Poll.source_id).group_by(Source.partner_id, Poll.outcome)).all()
            s.execute(select(*(func.coalesce(func.sum(case((Poll.duration_ms <= int(b * 1000), 1), else_=0)), 0)
                               for b in figures.POLL_DURATION_BUCKETS),
                             func.count(), func.coalesce(func.sum(Poll.duration_ms), 0))).one()
        base.append(time.perf_counter() - t)
    with rt.sessions() as s:
        n_polls = int(s.scalar(select(func.count()).select_from(Poll)) or 0)
    rt.engine.dispose()
    return {"polls": n_polls, "database": "postgresql" if database_url else "sqlite",
            "fill_s": round(fill_s, 1), "metrics_ms": round(median(times) * 1000, 1),
            "metrics_max_ms": round(max(times) * 1000, 1),
            "baseline_history_aggregate_ms": round(median(base) * 1000, 1)}


# ---------------------------------------------------------------- soak ([hardening] 10)


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slope_per_1000(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of RSS (MB) against items stored, per 1,000 items."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return 1000 * sum((x - mx) * (y - my) for x, y in points) / sxx


def soak(work: Path, minutes: float, feeds: int = 50, period: float = 5.0, sample_s: float = 5.0,
         say: Callable[[str], None] = lambda _m: None, trace_at: list[int] | None = None,
         story_window_minutes: float | None = None, story_index_items: int | None = None) -> dict[str, Any]:
    """`syndication run` with `feeds` local feeds, each publishing one new article every `period` seconds and
    polled every `period` seconds (source interval and fetch.max_interval pinned), for `minutes`. RSS of the
    process sampled every `sample_s`; the figure is the slope of RSS against items stored after warm-up (the
    first third of the run), in MB per 1,000 items, and RSS at the end. trace_at: run the service under
    tracemalloc (bench.tracedrun) from the first of these item counts, a snapshot in work/soak-trace at each
    of the others (RSS then includes tracemalloc's own bookkeeping: a profile, not a figure).
    story_window_minutes / story_index_items: `stories.window_hours` / `stories.index_max_items`, so that the story
    window turns over (or the index reaches its bound) within the run and what else grows shows."""
    import sqlite3

    port = procs.free_port()
    store = work / "soak"
    store.mkdir(parents=True, exist_ok=True)
    empty = work / "soak-static"
    empty.mkdir(exist_ok=True)
    with procs.feed_server(empty, soak_period=period) as base:
        partners = [{"id": f"agency{i}", "name": f"Agency {i}", "credit": f"Agency {i}",
                     "sources": [{"kind": "feed", "url": f"{base}/soak/feed{i}.xml", "interval": int(period)}]}
                    for i in range(feeds)]
        # Traced, the caches are kept small so they are full within the first few hundred items and the
        # snapshots show what else each item leaves behind (the caches are bounded by bytes and tested so).
        story: dict[str, Any] = {}
        if story_window_minutes is not None:
            story["window_hours"] = story_window_minutes / 60
        if story_index_items is not None:
            story["index_max_items"] = story_index_items
        data = base_settings(store, partners=partners, fetch={"max_interval": int(period)},
                             public_url=f"http://127.0.0.1:{port}",
                             **({"cache": {"entries_mb": 2, "files_mb": 2}} if trace_at else {}),
                             **({"stories": story} if story else {}))
        cfg = procs.write_toml(work / "soak.toml", data)
        log = open(work / "soak-run.log", "w")  # noqa: SIM115 - held for the subprocess's life
        command = ["-m", "syndication.cli.app", "run", "--port", str(port)]
        if trace_at:
            say(f"  soak under tracemalloc: snapshots in {work / 'soak-trace'} (BENCH_KEEP=1 keeps them)")
            command = ["-m", "bench.tracedrun", str(work / "soak-trace"), str(store / "syndication.db"),
                       ",".join(map(str, trace_at)), "--", *command[2:]]
        proc = subprocess.Popen(
            [sys.executable, *command],
            env=procs.clean_env(SYNDICATION_CONFIG=str(cfg)), cwd=work, stdout=log, stderr=subprocess.STDOUT,
        )
        samples: list[tuple[float, int, float]] = []  # (seconds, items stored, RSS MB)
        try:
            procs.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=120, proc=proc)
            db = store / "syndication.db"
            t0 = time.monotonic()
            end = t0 + minutes * 60
            next_say = t0
            while time.monotonic() < end:
                if proc.poll() is not None:
                    raise RuntimeError(f"syndication run exited with {proc.returncode} (see soak-run.log)")
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
                try:
                    items = int(con.execute("SELECT COUNT(*) FROM items").fetchone()[0])
                finally:
                    con.close()
                rss = _rss_mb(proc.pid)
                now = time.monotonic() - t0
                samples.append((now, items, rss))
                if time.monotonic() >= next_say:
                    say(f"  soak {now:5.0f} s: {items} items, RSS {rss:.1f} MB")
                    next_say += 60
                time.sleep(sample_s)
        finally:
            procs.stop(proc)
            log.close()
    warm = [s for s in samples if s[0] >= (minutes * 60) / 3]
    slope = slope_per_1000([(i, r) for _, i, r in warm])
    return {"feeds": feeds, "period_s": period, "minutes": minutes, "items": samples[-1][1] if samples else 0,
            "story_window_minutes": story_window_minutes, "story_index_items": story_index_items,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "rss_start_mb": round(samples[0][2], 1) if samples else None,
            "rss_end_mb": round(samples[-1][2], 1) if samples else None,
            "rss_max_mb": round(max(s[2] for s in samples), 1) if samples else None,
            "mb_per_1000_items_after_warmup": None if slope is None else round(slope, 2),
            "warmup_items": warm[0][1] if warm else None,
            "samples": [(round(t), i, round(r, 1)) for t, i, r in samples]}
