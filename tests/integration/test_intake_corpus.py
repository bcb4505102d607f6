"""Robustness corpus: every feedparser sample through intake, over HTTP and as a folder drop.

Skips when ../shared/corpora/feedparser is absent (a user's clone does not have it). Invariants (corpus
README): no unhandled exception; each file ends as items or a clear error; stored strings XML-legal; dates
tz-aware; only absolute http(s) URLs; no <script>, on*= attributes or javascript: URLs in stored content;
the feeds published afterwards parse with bozo == 0.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import feedparser
import pytest
from sqlalchemy import func, select

from syndication.db.models import Item, Poll, Source
from syndication.db.session import transaction
from syndication.intake.folder import headers_for
from syndication.intake.parse import ParseError, parse_document
from syndication.kernel.clock import utcnow
from syndication.kernel.domain import PartnerPolicy
from syndication.kernel.settings import Settings
from syndication.pipeline.normalise import normalise_feed
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from tests.conftest import SHARED, FeedServer, Route


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    """[hardening] Every test here that opens a runtime runs on SQLite and on the real PostgreSQL."""
    return functools.partial(make_settings, database_url=database_url)

CORPUS = SHARED / "corpora" / "feedparser"
ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
ATTR_URL = re.compile(r"""\s(?:href|src|cite|action|poster|srcset)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.I)
DANGER = re.compile(r"<script|\son[a-z]+\s*=|javascript:", re.I)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not present at {CORPUS}"),
]


def corpus_files() -> list[Path]:
    return sorted(CORPUS.rglob("*.xml"))


def comment_headers(body: bytes) -> dict[str, str]:
    """The `Header:` lines of the leading XML comment, as response headers (default Content-Type text/xml)."""
    headers: dict[str, str] = {}
    m = re.search(rb"<!--(.*?)-->", body[:4000], re.S)
    if m:
        for line in m.group(1).decode("utf-8", "replace").splitlines():
            line = line.strip()
            if line.startswith("Header:"):
                name, _, value = line[len("Header:"):].strip().partition(":")
                if name.strip():
                    headers[name.strip()] = value.strip()
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "text/xml"
    return headers


def violations(item: Item) -> list[str]:
    out = []
    strings: list[Any] = [item.title, item.content_html, item.summary, item.guid, item.url, item.language,
                          *item.authors, *item.categories]
    strings += [v for v in json.loads(json.dumps(item.attribution)).values() if isinstance(v, str)]
    for s in strings:
        if s is not None and (not isinstance(s, str) or ILLEGAL.search(s)):
            out.append(f"illegal string {s!r:.60}")
    for dt in (item.published_at, item.updated_at):
        if dt.tzinfo is None:
            out.append("naive date")
    for url in (item.url, item.attribution.get("original_url"), item.attribution.get("canonical_url")):
        if url and not re.match(r"https?://[^/\s]+", url):
            out.append(f"bad URL {url!r:.80}")
    for raw in ATTR_URL.findall(item.content_html or ""):
        value = raw.strip("\"'").strip()
        if not re.match(r"(?:https?://[^/\s]|data:image/)", value, re.I):
            out.append(f"non-absolute URL in content {value!r:.80}")
    for field in (item.content_html, item.summary):
        if field and DANGER.search(field):
            out.append(f"dangerous content {DANGER.search(field).group(0)!r}")  # type: ignore[union-attr]
    return out


def reason_of(error: str) -> str:
    """Bucket an error message: its kind, without the per-document details."""
    head = error.split(": ", 1)[-1] if error.startswith("wellformed") else error
    head = re.sub(r"\d+", "N", head.split(" (", 1)[0])
    return head.split(", N bytes", 1)[0][:80]


def test_corpus_over_http_and_as_folder_drop(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, tmp_path: Path
) -> None:
    files = corpus_files()
    assert len(files) > 2000
    drop = tmp_path / "drop"
    drop.mkdir()
    rt = make_runtime(partners=[
        {"id": "corpus-http", "name": "Corpus over HTTP", "sources": []},
        {"id": "corpus-folder", "name": "Corpus in a folder",
         "sources": [{"kind": "folder", "path": str(drop)}]},
    ], folder={"settle_seconds": 0})
    names: dict[str, Path] = {}
    now = utcnow()
    with transaction(rt.sessions) as s:
        for i, path in enumerate(files):
            body = path.read_bytes()
            rel = str(path.relative_to(CORPUS))
            feed_server.routes[f"/c/{i}"] = Route(200, comment_headers(body), body)
            s.add(Source(partner_id="corpus-http", kind="feed", locator=feed_server.url(f"/c/{i}"), interval=300,
                         consume=True, enabled=True, next_poll_at=now, consecutive_errors=0, created_at=now))
            flat = rel.replace("/", "__")
            names[flat] = path
            shutil.copyfile(path, drop / flat)
    with rt.sessions() as s:
        http_sources = [(sid, loc) for sid, loc in s.execute(
            select(Source.id, Source.locator).where(Source.partner_id == "corpus-http").order_by(Source.id))]
        folder_id = s.scalar(select(Source.id).where(Source.partner_id == "corpus-folder"))
    assert folder_id is not None

    # ---- pass 1: every file served over real HTTP with its Header: lines, polled through jobs.poll_source
    # (four threads, as the embedded executor runs polls; SQLite serialises the writes)
    t0 = time.perf_counter()
    http_errors: Counter[str] = Counter()
    http_failed: list[str] = []
    http_ok = accepted = rejected = 0
    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(lambda src: (src[1], jobs.poll_source(rt, src[0])), http_sources))
    for loc, rep in reports:
        assert rep is not None
        assert not (rep.error or "").startswith("internal error"), (loc, rep.error)
        accepted += rep.new + rep.updated + rep.unchanged
        rejected += rep.rejected
        if rep.status == "error":
            http_errors[reason_of(rep.error or "")] += 1
            http_failed.append(str(files[int(loc.rsplit("/", 1)[1])].relative_to(CORPUS)))
        else:
            http_ok += 1
    http_seconds = time.perf_counter() - t0

    # ---- pass 2: all files dropped in one folder, taken by one poll
    t0 = time.perf_counter()
    rep = jobs.poll_source(rt, folder_id)
    folder_seconds = time.perf_counter() - t0
    assert rep is not None
    done = {p.name for p in (drop / "done").iterdir()} if (drop / "done").exists() else set()
    failed = {p.name for p in (drop / "failed").iterdir() if not p.name.endswith(".error.txt")} \
        if (drop / "failed").exists() else set()
    assert done | failed == set(names) and not done & failed  # each file ends somewhere, once
    assert not any(p.is_file() for p in drop.iterdir())
    folder_errors: Counter[str] = Counter()
    for name in failed:
        reason = (drop / "failed" / f"{name}.error.txt").read_text().strip()
        assert reason and not reason.startswith("internal error"), (name, reason)
        folder_errors[reason_of(reason)] += 1

    # ---- invariants over everything stored
    bad: list[str] = []
    items = Counter[str]()
    with rt.sessions() as s:
        for item in s.scalars(select(Item)):
            items[item.partner_id] += 1
            bad += [f"{item.partner_id}/{item.key}: {v}" for v in violations(item)]
        worst_poll = s.execute(
            select(Poll.duration_ms, Source.locator).join(Source, Source.id == Poll.source_id)
            .where(Source.partner_id == "corpus-http").order_by(Poll.duration_ms.desc()).limit(1)
        ).one()
        partly = s.scalar(select(func.count()).select_from(Source).where(
            Source.partner_id == "corpus-http", Source.parse_problem.is_not(None)))
    assert not bad, bad[:20]

    # ---- the pure path per document: the cost of the worst one
    policy = PartnerPolicy(id="cost", name="Cost", credit="Cost")
    worst = (0.0, "")
    for flat, path in names.items():
        body = path.read_bytes()
        t1 = time.perf_counter()
        try:
            parsed = parse_document(body, headers_for(flat), None)
            normalise_feed(parsed, policy, now=now)
        except ParseError:
            pass
        cost = time.perf_counter() - t1
        if cost > worst[0]:
            worst = (cost, str(path.relative_to(CORPUS)))

    # ---- what we publish afterwards still parses cleanly
    results = jobs.publish_all(rt)
    for r in results:
        if r.format in ("atom", "rss"):
            d = feedparser.parse(Path(r.path).read_bytes())
            assert d.bozo == 0, (r.path, d.get("bozo_exception"))

    worst_http = str(files[int(worst_poll[1].rsplit("/", 1)[1])].relative_to(CORPUS))
    summary = {
        "files": len(files),
        "http": {"ok": http_ok, "errors": sum(http_errors.values()), "items_accepted": accepted,
                 "items_rejected": rejected, "distinct_items_stored": items["corpus-http"],
                 "failed_files": sorted(http_failed), "partly_parsed": partly,
                 "errors_by_reason": dict(http_errors.most_common()), "seconds": round(http_seconds, 1),
                 "worst_poll_ms": worst_poll[0], "worst_poll_source": worst_http},
        "folder": {"done": len(done), "failed": len(failed), "items_accepted": rep.new + rep.updated + rep.unchanged,
                   "items_rejected": rep.rejected, "distinct_items_stored": items["corpus-folder"],
                   "failed_files": sorted(n.replace("__", "/") for n in failed),
                   "errors_by_reason": dict(folder_errors.most_common()), "seconds": round(folder_seconds, 1)},
        "worst_document": {"file": worst[1], "parse_and_normalise_ms": round(worst[0] * 1000, 1)},
    }
    print("\nCORPUS " + json.dumps(summary, indent=1))
    assert http_ok + sum(http_errors.values()) == len(files)
