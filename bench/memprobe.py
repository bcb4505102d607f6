"""Run one ingest (or feedparser alone) in a fresh process and print its peak RSS as JSON.

    python -m bench.memprobe ingest URL DATA_DIR [MAX_BODY_BYTES]
    python -m bench.memprobe feedparser URL
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "feedparser":
        import feedparser
        import httpx

        body = httpx.get(url, trust_env=False, timeout=60).content
        n = len(feedparser.parse(io.BytesIO(body), sanitize_html=False).entries)
        print(json.dumps({"entries": n, "peak_rss_mb": peak_rss_mb()}))
        return
    from sqlalchemy import func, select

    from syndication.db.models import Item, Source
    from syndication.kernel.settings import load_settings
    from syndication.runtime import jobs
    from syndication.runtime.context import open_runtime

    fetch: dict[str, object] = {"allow_private_addresses": True}
    if len(sys.argv) > 4:
        fetch["max_body_bytes"] = int(sys.argv[4])
    settings = load_settings(None, data_dir=sys.argv[3], fetch=fetch, partners=[
        {"id": "big", "name": "Big", "sources": [{"kind": "feed", "url": url}]}])
    rt = open_runtime(settings)
    with rt.sessions() as s:
        sid = s.scalar(select(Source.id))
    assert sid is not None
    report = jobs.poll_source(rt, sid)
    with rt.sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Item))
    rt.close()
    print(json.dumps({"status": report.status if report else None, "error": report.error if report else None,
                      "stored": stored, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
