"""The round-end publish of a store on its own: a copy of an ingested data dir, reset to "just ingested", published
once (relay, channels, archive pages, notices), timed in wall and CPU seconds. Prints JSON.

    python -m bench.republish DATA_DIR CONFIG WORK [--uncached]
    python -m bench.republish --compare WORK_A WORK_B

What is reset: every publish product (channel files and marks, archive pages, notices and their pending rows,
deliveries, WebSub pings, the partners' recorded rights policies) and every event's relay, so the publish does
what the last poll of a first import's round does. `tree_sha256` digests every channel file (paths and bytes):
equal digests, equal feeds (the notices feeds are left out: a notice's id is a fresh UUID).

--uncached renders every document without the entry cache (every entry rendered for every document: the reference
the cache must equal). --compare digests every channel file of two runs (one on main's tree and one on yours, or
one --uncached) and lists the files that differ or exist in one run only; it exits 1 if there is any.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path

RESET = ("archive_entries", "archive_pages", "channel_files", "channels", "notices", "pending_notices", "deliveries",
         "websub_pings", "partner_policy_state")


def file_digests(work: Path) -> dict[str, str]:
    """sha256 of every channel file under WORK's feeds directory, by path (notices feeds left out, see above)."""
    feeds = work / "public" / "feeds"
    return {str(p.relative_to(feeds)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(feeds.rglob("*")) if p.is_file()}


def compare(a: Path, b: Path) -> dict[str, object]:
    da, db = file_digests(a), file_digests(b)
    differ = sorted(k for k in da.keys() & db.keys() if da[k] != db[k])
    return {"files": len(da), "same": sum(1 for k in da.keys() & db.keys() if da[k] == db[k]), "differ": differ,
            "only_in_a": sorted(da.keys() - db.keys()), "only_in_b": sorted(db.keys() - da.keys())}


def uncached() -> None:
    """Swap every renderer for the same one called without a cache (the publisher calls feeds.RENDERERS)."""
    # lazy: as main's other imports (the settings are loaded first); publisher adds ninjs to RENDERERS
    from syndication.publish import publisher  # noqa: F401
    from syndication.publish.feeds import RENDERERS

    for fmt, render in list(RENDERERS.items()):
        RENDERERS[fmt] = lambda spec, items, ctx, extras, cache=None, _r=render: _r(spec, items, ctx, extras)


def main() -> None:
    if sys.argv[1] == "--compare":
        out = compare(Path(sys.argv[2]), Path(sys.argv[3]))
        print(json.dumps(out))
        sys.exit(1 if out["differ"] or out["only_in_a"] or out["only_in_b"] else 0)
    source, config, work = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work, ignore=shutil.ignore_patterns("public"))
    db = sqlite3.connect(work / "syndication.db")
    with db:
        for table in RESET:
            db.execute(f"DELETE FROM {table}")  # noqa: S608 - names from the tuple above
        db.execute("UPDATE events SET relayed_at = NULL")
    db.close()

    from syndication.kernel.settings import load_settings
    from syndication.publish.feeds import ENTRY_CACHE
    from syndication.runtime import jobs
    from syndication.runtime.context import open_runtime

    if "--uncached" in sys.argv[4:]:
        uncached()
    settings = load_settings(config).model_copy(update={"data_dir": work})
    rt = open_runtime(settings)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        results = jobs.publish_dirty(rt)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        rt.close()
    digest = hashlib.sha256()
    feeds = settings.public_dir / "feeds"
    files = sorted(p for p in feeds.rglob("*") if p.is_file())
    for p in files:
        digest.update(str(p.relative_to(feeds)).encode() + b"\0" + p.read_bytes())
    print(json.dumps({
        "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "documents": len(results),
        "channel_files": len(files), "files_written": sum(1 for p in settings.public_dir.rglob("*") if p.is_file()),
        "entry_cache": {"hits": ENTRY_CACHE.hits, "reread": ENTRY_CACHE.reread, "misses": ENTRY_CACHE.misses},
        "tree_sha256": digest.hexdigest(),
    }))


if __name__ == "__main__":
    main()
