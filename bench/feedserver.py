"""The partners' side: a threaded HTTP server on 127.0.0.1 in its own process (so it does not share the
measured process's GIL). Serves every file of a directory at /<name> with an ETag and 304s, and
/stream/<bytes> as an endless-looking RSS document of that size without Content-Length (cap tests).

    python -m bench.feedserver DIR [--sniff]  -> prints "PORT <n>" when listening
    python -m bench.feedserver DIR --soak PERIOD  -> also /soak/feed<i>.xml (workload `soak`)

--sniff (real partners' feeds, workload `real`): each file's Content-Type names its kind (RSS, Atom, RDF) and no
charset, so the parser reads the encoding from the document as it would from most sites; without it every file
is served as `application/rss+xml; charset=utf-8` (the synthetic feeds).
"""

from __future__ import annotations

import hashlib
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SYNTHETIC_TYPE = "application/rss+xml; charset=utf-8"
_ROOT = re.compile(rb"<(rss|feed|rdf:RDF)[\s>]")
_TYPES = {b"rss": "application/rss+xml", b"feed": "application/atom+xml", b"rdf:RDF": "application/rdf+xml"}


def content_type_of(body: bytes) -> str:
    """The feed kind named by the document's root element (first 4 KB), as a site would label it."""
    m = _ROOT.search(body[:4096])
    return _TYPES[m.group(1)] if m else "application/xml"


class SoakFeeds:
    """/soak/feed<i>.xml: a partner publishing one new article every `period` seconds since the server started.
    The document carries its newest WINDOW articles, dated when they appeared; the ETag names the newest, so a
    poll between two articles is a 304."""

    WINDOW = 10

    def __init__(self, period: float) -> None:
        import threading
        import time

        self.period = period
        self.t0 = time.time()
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[int, bytes]] = {}

    def get(self, feed: int) -> tuple[bytes, str]:
        import time
        from datetime import UTC, datetime
        from email.utils import format_datetime
        from xml.sax.saxutils import escape

        from bench.common import article

        newest = int((time.time() - self.t0) / self.period) + 1
        with self._lock:
            hit = self._cache.get(feed)
            if hit is None or hit[0] != newest:
                out = ['<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
                       'xmlns:dc="http://purl.org/dc/elements/1.1/">'
                       f"<channel><title>Agency {feed}</title><link>https://agency{feed}.example/</link>"
                       f"<description>News from agency {feed}</description><language>en</language>"]
                for i in range(newest - 1, max(-1, newest - 1 - self.WINDOW), -1):
                    a = article(feed, i, seed=7)
                    when = datetime.fromtimestamp(self.t0 + i * self.period, UTC)
                    out.append(
                        f"<item><title>{escape(a.title)}</title><link>{a.link}</link>"
                        f'<guid isPermaLink="false">{a.guid}</guid><pubDate>{format_datetime(when)}</pubDate>'
                        f"<dc:creator>{escape(a.author)}</dc:creator><category>news</category>"
                        f"<description>{escape(a.html)}</description></item>")
                out.append("</channel></rss>")
                hit = self._cache[feed] = (newest, "".join(out).encode("utf-8"))
        return hit[1], f'"soak-{feed}-{hit[0]}"'


def make_handler(all_files: dict[str, tuple[bytes, str, str]],
                 soak: SoakFeeds | None = None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path.startswith("/stream/"):
                self._stream(int(path.rsplit("/", 1)[1]), declared=self.path.endswith("?declared"))
                return
            if soak is not None and path.startswith("/soak/feed") and path.endswith(".xml"):
                body, etag = soak.get(int(path.removeprefix("/soak/feed").removesuffix(".xml")))
                files = {"soak": (body, etag, SYNTHETIC_TYPE)}
                path = "/soak"
            else:
                files = all_files
            hit = files.get(path.lstrip("/"))
            if hit is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, etag, ctype = hit
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _stream(self, size: int, declared: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            if declared:
                self.send_header("Content-Length", str(size))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>big</title>'
            chunk = b"<item><title>x</title><description>" + b"y" * 65000 + b"</description></item>"
            try:
                self.wfile.write(head)
                sent = len(head)
                while sent < size:
                    piece = chunk[: size - sent]
                    self.wfile.write(piece)
                    sent += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def load(directory: Path, sniff: bool = False) -> dict[str, tuple[bytes, str, str]]:
    files = {}
    for p in sorted(directory.iterdir()):
        if p.is_file():
            body = p.read_bytes()
            ctype = content_type_of(body) if sniff else SYNTHETIC_TYPE
            files[p.name] = (body, '"' + hashlib.sha256(body).hexdigest()[:24] + '"', ctype)
    return files


def main() -> None:
    directory = Path(sys.argv[1])
    args = sys.argv[2:]
    soak = SoakFeeds(float(args[args.index("--soak") + 1])) if "--soak" in args else None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(load(directory, sniff="--sniff" in args), soak))
    httpd.daemon_threads = True
    httpd.request_queue_size = 256
    print(f"PORT {httpd.server_address[1]}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
