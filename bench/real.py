"""Workload `real`: what partners really send, through the command a user runs.

The 112 real feeds of `shared/corpora/realfeeds.tar.xz` (found through SYNDICATION_SHARED_DIR, else beside
the checkout) are unpacked and served on loopback by bench.feedserver in its own process; the real
`syndication ingest --json` runs as a subprocess on a fresh data dir, once in one process and once with
`schedule.parse_processes = 2`, timed as a whole (start-up, polls, storing, publishing). In the same run,
`feedparser.parse` alone and `fastfeedparser.parse` alone (when installed) go over the same bytes, each in its
own process (bench.parse_alone). Figures: items/s and their ratios to feedparser alone, the speed-up of the
parse processes, items stored against the entries each library counts, sources in error, dead letters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

from bench import procs
from bench.common import REPO, median

ARCHIVE = "realfeeds.tar.xz"


def corpus_archive() -> Path | None:
    """SYNDICATION_SHARED_DIR first (CI's clone is not beside ../shared), then the folder beside the checkout."""
    roots = [Path(d) for d in (os.environ.get("SYNDICATION_SHARED_DIR"),) if d] + [REPO.parent / "shared"]
    for root in roots:
        path = root / "corpora" / ARCHIVE
        if path.is_file():
            return path
    return None


def unpack(archive: Path, dest: Path, limit: int | None) -> list[Path]:
    """The feed files (the archive's dev/ folder), sorted by name; the first `limit` of them when given."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:xz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)[:limit]
        for m in members:
            m.name = Path(m.name).name  # flat: one folder of feeds, served at /<name>
            tar.extract(m, dest, filter="data")
    return sorted(p for p in dest.iterdir() if p.is_file())


def syndication_command() -> list[str]:
    """The console script a user runs, from this interpreter's environment (else the module)."""
    script = Path(sys.executable).parent / "syndication"
    return [str(script)] if script.exists() else [sys.executable, "-m", "syndication.cli.app"]


def parse_alone(which: str, feeds_dir: Path) -> dict[str, Any]:
    res = subprocess.run([sys.executable, "-m", "bench.parse_alone", which, str(feeds_dir)], capture_output=True,
                         text=True, env=procs.clean_env(), cwd=REPO, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"{which} alone failed: {res.stderr[-500:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def fastfeedparser_installed() -> bool:
    res = subprocess.run([sys.executable, "-c", "import fastfeedparser"], capture_output=True, env=procs.clean_env(),
                         cwd=REPO)
    return res.returncode == 0


def ingest_once(work: Path, name: str, base_url: str, feeds: list[Path], parse_processes: int) -> dict[str, Any]:
    """`syndication ingest --json` on a fresh data dir, timed from the command's start to its exit."""
    data_dir = work / name
    shutil.rmtree(data_dir, ignore_errors=True)
    partners = [{"id": p.name, "name": f"Feed {p.name}",
                 "sources": [{"kind": "feed", "url": f"{base_url}/{p.name}", "interval": 3600}]} for p in feeds]
    cfg = procs.write_toml(work / f"{name}.toml", {
        "data_dir": str(data_dir), "fetch": {"allow_private_addresses": True},
        "schedule": {"parse_processes": parse_processes}, "partners": partners,
    })
    log = work / f"{name}.log"
    t0 = time.perf_counter()
    with log.open("w") as err:
        res = subprocess.run([*syndication_command(), "--config", str(cfg), "ingest", "--json"], stdout=subprocess.PIPE,
                             stderr=err, text=True, env=procs.clean_env(), cwd=work, timeout=1800)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"syndication ingest exited {res.returncode}: {log.read_text()[-800:]}")
    sources = json.loads(res.stdout)["sources"]
    from syndication.db.models import DeadLetter, Item

    engine = create_engine(f"sqlite:///{data_dir / 'syndication.db'}")
    try:
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(Item)) or 0
            dead = conn.scalar(select(func.count()).select_from(DeadLetter)) or 0
    finally:
        engine.dispose()
    return {
        "seconds": seconds, "stored": stored, "dead_letters": dead,
        "new": sum(s["new"] for s in sources), "rejected": sum(s["rejected"] for s in sources),
        "source_errors": [f"{s['partner']}: {s['error']}" for s in sources if s["status"] == "error"],
    }


def republish(work: Path, name: str) -> dict[str, Any]:
    """The round-end publish of the one-process run's store, again, on its own (bench.republish)."""
    res = subprocess.run([sys.executable, "-m", "bench.republish", str(work / name), str(work / f"{name}.toml"),
                          str(work / f"{name}-republish")], capture_output=True, text=True, env=procs.clean_env(),
                         cwd=REPO, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"republish failed: {res.stderr[-500:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def real(quick_feeds: int | None, repeats: int, work: Path) -> dict[str, Any]:
    archive = corpus_archive()
    if archive is None:
        return {"skipped": "corpus absent"}
    feeds_dir = work / "realfeeds"
    feeds = unpack(archive, feeds_dir, quick_feeds)
    out: dict[str, Any] = {"feeds": len(feeds), "bytes": sum(p.stat().st_size for p in feeds)}
    fp = [parse_alone("feedparser", feeds_dir) for _ in range(repeats)]
    fp_s = median([r["seconds"] for r in fp])
    out["feedparser"] = {"seconds": round(fp_s, 3), "entries": fp[0]["entries"], "failed": fp[0]["failed"],
                         "items_per_s": round(fp[0]["entries"] / fp_s, 1)}
    if fastfeedparser_installed():
        ffp = [parse_alone("fastfeedparser", feeds_dir) for _ in range(repeats)]
        ffp_s = median([r["seconds"] for r in ffp])
        out["fastfeedparser"] = {"seconds": round(ffp_s, 3), "entries": ffp[0]["entries"], "failed": ffp[0]["failed"],
                                 "items_per_s": round(ffp[0]["entries"] / ffp_s, 1)}
    else:
        out["fastfeedparser"] = {"skipped": "not installed (pip install fastfeedparser)"}
    fp_rate = out["feedparser"]["items_per_s"]
    with procs.feed_server(feeds_dir, sniff=True) as base:
        for label, pp in (("ingest", 0), ("ingest_parse_processes", 2)):
            runs = []
            for r in range(repeats):
                runs.append(ingest_once(work, f"real-{pp}-{r}", base, feeds, pp))
                if runs[0]["seconds"] > 20:
                    break  # a slow path: one run is figure enough, and bounds `bench all`
            secs = median([x["seconds"] for x in runs])
            last = runs[-1]
            rate = last["stored"] / secs
            out[label] = {
                "parse_processes": pp, "seconds": round(secs, 2), "runs_s": [round(x["seconds"], 2) for x in runs],
                "stored": last["stored"], "items_per_s": round(rate, 1),
                "ratio_to_feedparser": round(rate / fp_rate, 3),
                "dead_letters": last["dead_letters"], "rejected": last["rejected"],
                "source_errors": last["source_errors"],
            }
    out["round_end_publish"] = republish(work, "real-0-0")
    one, two = out["ingest"]["items_per_s"], out["ingest_parse_processes"]["items_per_s"]
    out["parse_processes_speedup"] = round(two / one, 2) if one else None
    if "seconds" in out["fastfeedparser"]:
        out["fastfeedparser"]["ratio_to_feedparser"] = round(out["fastfeedparser"]["items_per_s"] / fp_rate, 2)
    return out


def describe(r: dict[str, Any]) -> list[str]:
    """The lines `python -m bench real` prints."""
    if "skipped" in r:
        return [f"real: skipped: {r['skipped']}"]
    fp, ffp, one, two = r["feedparser"], r["fastfeedparser"], r["ingest"], r["ingest_parse_processes"]
    lines = [f"real ({r['feeds']} feeds, {r['bytes'] / 1e6:.1f} MB served on loopback):"]
    for name, x in (("syndication ingest, one process", one), ("syndication ingest, parse_processes=2", two)):
        lines.append(f"  {name}: {x['seconds']} s, {x['items_per_s']} items/s ({x['ratio_to_feedparser']}x feedparser "
                     f"alone); {x['stored']} items stored, {x['rejected']} rejected, {x['dead_letters']} dead letters, "
                     f"{len(x['source_errors'])} sources in error; runs {x['runs_s']}")
    lines.append(f"  parse processes speed-up: {r['parse_processes_speedup']}x the one-process figure")
    pub = r.get("round_end_publish")
    if pub:
        lines.append(f"  round-end publish of the one-process store, again on its own: {pub['seconds']} s "
                     f"({pub['cpu_seconds']} s CPU), {pub['documents']} channel documents, {pub['files_written']} "
                     f"files; entry cache {pub['entry_cache']['hits']} hits / "
                     f"{pub['entry_cache'].get('reread', 0)} read back from files written / "
                     f"{pub['entry_cache']['misses']} rendered")
    lines.append(f"  feedparser.parse alone (no sanitiser, no URI resolution): {fp['seconds']} s, {fp['items_per_s']} "
                 f"items/s, {fp['entries']} entries ({fp['failed']} documents raised)")
    if "skipped" in ffp:
        lines.append(f"  fastfeedparser.parse alone: skipped: {ffp['skipped']}")
    else:
        lines.append(f"  fastfeedparser.parse alone: {ffp['seconds']} s, {ffp['items_per_s']} items/s "
                     f"({ffp['ratio_to_feedparser']}x feedparser), {ffp['entries']} entries "
                     f"({ffp['failed']} documents raised)")
    lines.append(f"  entries kept: {one['stored']} stored vs feedparser's {fp['entries']}"
                 + ("" if "skipped" in ffp else f" and fastfeedparser's {ffp['entries']}"))
    for err in one["source_errors"][:5]:
        lines.append(f"    source error: {err}")
    return lines
