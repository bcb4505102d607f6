"""The libraries' own ceiling for workload `real`, each in a process of its own (so the measured interpreter
has nothing else loaded or running):

    python -m bench.parse_alone feedparser|fastfeedparser|ours DIR  -> one JSON line

Every file of DIR is read first (not timed), then parsed from bytes: feedparser with its sanitiser and
relative-URI resolution off and the Content-Type the feed server sends (bench.feedserver.content_type_of);
fastfeedparser as it comes; `ours` is the service's own `parse.parse_xml_feed` (charset decision,
DOCTYPE stripping, the lxml fast path, feedparser for what it declines). The line gives the parse loop's
seconds, the entries found, and the documents the library raised on.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.feedserver import content_type_of


def parser(which: str) -> Callable[[bytes], int]:
    if which == "feedparser":
        import feedparser

        def parse(body: bytes) -> int:
            doc = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False,
                                   response_headers={"content-type": content_type_of(body)})
            return len(doc.entries)

        return parse
    if which == "fastfeedparser":
        import fastfeedparser

        return lambda body: len(fastfeedparser.parse(body).entries)
    if which == "ours":
        from syndication.intake.parse import parse_xml_feed

        return lambda body: len(parse_xml_feed(body, {"content-type": content_type_of(body)},
                                               "http://127.0.0.1/feed").entries)
    raise SystemExit(f"unknown parser {which!r}")


def main() -> None:
    which, directory = sys.argv[1], Path(sys.argv[2])
    bodies = [p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()]
    parse = parser(which)
    entries = failed = 0
    t0 = time.perf_counter()
    for body in bodies:
        try:
            entries += parse(body)
        except Exception:  # counted, not fatal: the figure says how many documents the library gave up on
            failed += 1
    seconds = time.perf_counter() - t0
    print(json.dumps({"parser": which, "documents": len(bodies), "seconds": seconds, "entries": entries,
                      "failed": failed}))


if __name__ == "__main__":
    main()
