"""python -m bench [WORKLOAD] [--json] [--quick] [--minutes N]

WORKLOAD: ingest | scaled | repoll | latency | publish | serve | memory | real | metrics | soak | all (default: all);
also embedded (ingest without the scaled part), attribution (the labelled credit corpus scored, every credit
read from the real feeds listed, time per item), wire (ninjs intake per item: bench/wire.py) and pipeline
(normalise over every real-feed entry parsed once: CPU time per entry and per stage).
`python -m bench fidelity [--help]` compares the fast parser with feedparser instead (bench/fidelity.py).
--quick runs a tiny size of each workload (for CI: checks the harness still runs; never asserts timings).
--minutes N: how long the soak runs (default 10; --quick: 0.5); --period S: seconds between a feed's articles
(default 5); --trace-at N1,N2: tracemalloc snapshots of the service at these item counts (bench/tracedrun.py);
--story-window-minutes M / --story-index-items N: the service's story window and index bound (stories.*), so the
window turns over within a soak.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import procs, real, workloads
from bench.common import machine

WORKLOADS = ("ingest", "scaled", "repoll", "latency", "publish", "serve", "memory", "real", "metrics", "soak")
# ingest without the scaled part (for before/after comparisons); the attribution corpus and real-feed credits
EXTRA = ("embedded", "attribution", "wire", "pipeline")


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["fidelity"]:  # not a timed workload: a report of its own, with its own options
        from bench import fidelity

        return fidelity.main(args_in[1:])
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n", 1)[1])
    ap.add_argument("workload", nargs="?", default="all", choices=(*WORKLOADS, *EXTRA, "all"))
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every workload")
    ap.add_argument("--minutes", type=float, default=None, help="soak: how long to run (default 10; --quick 0.5)")
    ap.add_argument("--period", type=float, default=5.0, help="soak: seconds between two articles of a feed")
    ap.add_argument("--trace-at", default="", help="soak: tracemalloc snapshots at these item counts (N1,N2,...)")
    ap.add_argument("--story-window-minutes", type=float, default=None,
                    help="soak: stories.window_hours of the service, in minutes (default: the setting's 72 h)")
    ap.add_argument("--story-index-items", type=int, default=None,
                    help="soak: stories.index_max_items of the service (default: the setting's)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)
    if os.environ.get("BENCH_NO_FASTPATH") == "1":  # the "before" of the lxml fast path
        import syndication.intake.fastparse as fastparse

        fastparse.try_parse = lambda *a, **k: None  # type: ignore[assignment]
    size = workloads.QUICK if args.quick else workloads.FULL
    chosen = WORKLOADS if args.workload == "all" else (args.workload,)
    if args.workload == "all" and not args.quick:
        chosen = tuple(w for w in chosen if w != "soak")  # minutes long: run it by name (`bench soak`)
    started = time.perf_counter()
    failed: list[str] = []
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "size": "quick" if args.quick else "full",
        "proposed_stories": os.environ.get("BENCH_PROPOSED_STORIES") == "1",
        "fast_path": os.environ.get("BENCH_NO_FASTPATH") != "1",
        "results": {},
    }
    say = (lambda *_: None) if args.json else (lambda *a: print(*a, flush=True))
    m = report["machine"]
    say(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, commit {m['commit']}; "
        f"lxml fast path {'on' if report['fast_path'] else 'OFF'}"
        + ("; PROPOSED story matching patched in (embedded and workers)" if report["proposed_stories"] else ""))
    res = report["results"]
    if args.workload == "attribution":
        from bench import attribution

        r = attribution.run(None if args.quick else real.corpus_archive())
        for line in r["report"] + r.get("real", {}).get("report", []):
            say(line)
        res["attribution"] = r
        chosen = ()
    if args.workload == "wire":
        from bench import wire

        r = wire.run(wire.shared_dir(), items=100 if args.quick else 1000, repeats=1 if args.quick else 3)
        for line in r["report"]:
            say(line)
        res["wire"] = r
        chosen = ()
    if args.workload == "pipeline":
        from bench import pipeline

        r = pipeline.pipeline(real.corpus_archive(), args.quick)
        for line in pipeline.describe(r):
            say(line)
        res["pipeline"] = r
        chosen = ()
    with workloads.tmpdir() as tmp:
        work = Path(tmp)
        if "real" in chosen:
            t = time.perf_counter()
            try:
                r = real.real(size.real_feeds, size.real_repeats, work / "real")
            except RuntimeError as exc:
                failed.append(f"real: {exc}")
                r = {"error": str(exc)}
                say(f"real: NOT MEASURED: {exc}")
            else:
                for line in real.describe(r):
                    say(line)
            res["real"] = r
            say(f"  [{time.perf_counter() - t:.0f}s]")
        feeds_dir = work / "feeds"
        synthetic = bool({"ingest", "embedded", "repoll", "latency", "scaled"} & set(chosen))
        bodies = workloads.write_feeds(feeds_dir, size) if synthetic else []
        store_dir = work / "store"
        server = procs.feed_server(feeds_dir) if synthetic else contextlib.nullcontext("")
        with server as base:
            if {"ingest", "embedded", "repoll", "latency"} & set(chosen):
                t = time.perf_counter()
                r = workloads.ingest_embedded(size, work, base, bodies, keep=store_dir)
                etags = {p.name: '"' + __import__("hashlib").sha256(p.read_bytes()).hexdigest()[:24] + '"'
                         for p in feeds_dir.iterdir()}
                r["baseline_repoll_bare_httpx_s"] = round(workloads.repoll_baseline(size, base, etags), 3)
                res["ingest"] = {k: v for k, v in r.items() if not k.startswith(("repoll", "baseline_repoll"))}
                res["repoll"] = {"feeds": size.feeds, "seconds": r["repoll_s"],
                                 "baseline_bare_httpx_s": r["baseline_repoll_bare_httpx_s"]}
                if r["truncated_at_budget_s"]:
                    say(f"  (over budget: stopped starting polls after {r['truncated_at_budget_s']} s with "
                        f"{r['stored']}/{r['items']} items stored; figure = stored / elapsed)")
                say(f"ingest embedded (one process): {r['items_per_s']} items/s  (feedparser alone "
                    f"{r['baseline_feedparser_items_per_s']} items/s; ratio {r['ratio_to_baseline']}x; "
                    f"{r['items']} items; runs {r['runs']}) [{time.perf_counter() - t:.0f}s]")
                if {"ingest", "embedded"} & set(chosen):
                    t = time.perf_counter()
                    n = max(2, int(m["cores"]))
                    rp = workloads.ingest_embedded(size, work, base, bodies, parse_processes=n)
                    res["ingest_parse_processes"] = {k: v for k, v in rp.items() if not k.startswith("repoll")}
                    if rp["truncated_at_budget_s"]:
                        say(f"  (over budget: {rp['stored']}/{rp['items']} items stored; figure = stored / elapsed)")
                    say(f"ingest embedded, schedule.parse_processes={n}: {rp['items_per_s']} items/s  (feedparser "
                        f"alone {rp['baseline_feedparser_items_per_s']} items/s; ratio {rp['ratio_to_baseline']}x; "
                        f"runs {rp['runs']}) [{time.perf_counter() - t:.0f}s]")
                shown = r["repoll_s"] if r["repoll_s"] is not None else "skipped (ingest over budget)"
                say(f"repoll: {shown} s for {size.feeds} unchanged feeds  "
                    f"(bare conditional GETs {r['baseline_repoll_bare_httpx_s']} s)")
            if {"ingest", "scaled"} & set(chosen):
                t = time.perf_counter()
                one = workloads.ingest_scaled(size, work, base, 1)
                two = workloads.ingest_scaled(size, work, base, 2)
                res["scaled"] = {"1_worker_items_per_s": one["items_per_s"],
                                 "2_workers_items_per_s": two["items_per_s"],
                                 "speedup": round(two["items_per_s"] / one["items_per_s"], 2),
                                 "truncated_at_budget_s": one["truncated_at_budget_s"] or two["truncated_at_budget_s"]}
                if res["scaled"]["truncated_at_budget_s"]:
                    say(f"  (scaled rounds stopped at the {res['scaled']['truncated_at_budget_s']:g} s budget; "
                        "figures = stored / elapsed)")
                say(f"ingest scaled (Celery, PostgreSQL, Redis): 1 worker {one['items_per_s']} items/s, 2 workers "
                    f"{two['items_per_s']} items/s, speedup {res['scaled']['speedup']}x "
                    f"[{time.perf_counter() - t:.0f}s]")
            if "latency" in chosen:
                t = time.perf_counter()
                try:
                    r = workloads.latency(size, work, store_dir, base)
                except RuntimeError as exc:  # a figure that could not be measured is reported, not fatal
                    failed.append(f"latency: {exc}")
                    res["latency"] = {"error": str(exc)}
                    say(f"latency: NOT MEASURED: {exc} [{time.perf_counter() - t:.0f}s]")
                else:
                    res["latency"] = r
                    say(f"latency ({r['mode']}, store {r['store_items']} items, {r['config']}): p50 {r['p50_s']} s, "
                        f"p95 {r['p95_s']} s over {r['pushes']} pushes [{time.perf_counter() - t:.0f}s]")
                    w = r["websub"]
                    say(f"latency WebSub (hub POST to item in /feeds/all.atom; goal <= 1 s): p50 {w['p50_s']} s, "
                        f"p95 {w['p95_s']} s, max {w['max_s']} s over {w['pushes']} distributions")
        if {"publish", "serve"} & set(chosen):
            t = time.perf_counter()
            r = workloads.publish(size, work)
            res["publish"] = r
            say(f"publish: {r['channels']} channels x {r['formats']} formats; after one new item publish_dirty "
                f"{r['publish_dirty_ms']} ms, {r['files_changed']} files / {r['bytes_written']} bytes written; "
                f"publish_all {r['publish_all_ms']} ms (0 files rewritten); baseline render-only of all "
                f"{r['baseline_render_all_ms']} ms [{time.perf_counter() - t:.0f}s]")
        if "serve" in chosen:
            t = time.perf_counter()
            r = workloads.serve(size, work, work / "publish")
            res["serve"] = r
            say(f"serve /feeds/all.atom ({r['bytes']} bytes, {r['load_generator']}): 200s {r['rps_200']} req/s, "
                f"304s {r['rps_304']} req/s  (bare ASGI on uvicorn: {r['baseline_bare_asgi_rps_200']} / "
                f"{r['baseline_bare_asgi_rps_304']} req/s) [{time.perf_counter() - t:.0f}s]")
        if "memory" in chosen:
            t = time.perf_counter()
            r = workloads.memory(size, work)
            res["memory"] = r
            say(f"memory: {r['feed_bytes']} byte feed ({r['feed_items']} items): peak RSS {r['ingest_peak_rss_mb']} MB"
                f" (feedparser alone {r['baseline_feedparser_peak_rss_mb']} MB); {size.cap_probe_mb} MB feed refused "
                f"at the cap: declared {r['cap_declared_refused']} ({r['cap_declared_peak_rss_mb']} MB), streamed "
                f"{r['cap_streamed_refused']} ({r['cap_streamed_peak_rss_mb']} MB) [{time.perf_counter() - t:.0f}s]")
        if "metrics" in chosen:
            t = time.perf_counter()
            r = workloads.metrics(size, work)
            res["metrics"] = r
            say(f"metrics: GET /metrics over {r['polls']} poll rows ({r['database']}): median {r['metrics_ms']} ms, "
                f"max {r['metrics_max_ms']} ms  (the history aggregate /metrics ran before: "
                f"{r['baseline_history_aggregate_ms']} ms; store filled in {r['fill_s']} s) "
                f"[{time.perf_counter() - t:.0f}s]")
        if "soak" in chosen:
            t = time.perf_counter()
            minutes = args.minutes if args.minutes is not None else (0.5 if args.quick else 10.0)
            feeds = 10 if args.quick else 50
            try:
                r = workloads.soak(work, minutes, feeds=feeds, period=args.period,
                                   sample_s=2.0 if args.quick else 5.0, say=say,
                                   trace_at=[int(n) for n in args.trace_at.split(",") if n],
                                   story_window_minutes=args.story_window_minutes,
                                   story_index_items=args.story_index_items)
            except RuntimeError as exc:
                failed.append(f"soak: {exc}")
                r = {"error": str(exc)}
                say(f"soak: NOT MEASURED: {exc}")
            else:
                say(f"soak: {r['feeds']} feeds, one new item per feed every {r['period_s']:g} s, {r['minutes']:g} min: "
                    f"{r['items']} items; RSS {r['rss_start_mb']} -> {r['rss_end_mb']} MB (max {r['rss_max_mb']}); "
                    f"{r['mb_per_1000_items_after_warmup']} MB per 1,000 items after warm-up "
                    f"({r['warmup_items']} items); load average {r['load_average']} [{time.perf_counter() - t:.0f}s]")
            res["soak"] = r
    report["seconds"] = round(time.perf_counter() - started, 1)
    say(f"total {report['seconds']} s")
    if failed:
        report["failed"] = failed
        say("not measured: " + "; ".join(failed))
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
