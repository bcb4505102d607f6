"""Workload `store` (not in `all`): storing a first import's items, without fetching or parsing.

Every document of `shared/corpora/realfeeds.tar.xz` is parsed and normalised once, untimed, each feed as
its own partner; then a fresh database (SQLite in a scratch dir, or `--database-url postgresql://...`, a
fresh database made for the run) takes them the way a poll stores them (`jobs._store_normalised`: one
transaction per document, story matching included), feed after feed, on one thread. Figure: CPU seconds
(`time.process_time`, this process: the database server's own time is not in it) and wall seconds of the
storing alone, items stored, and a digest of every row written (items, versions, events, stories,
counters) so two trees can be compared for "same result" by eye.

`python -m bench.store [--quick] [--database-url URL]`; run it on another tree (same interpreter, `cd`
there) back to back to compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import uuid
from typing import Any

from sqlalchemy import create_engine, func, select, text

from bench.pipeline import NOW, parsed_feeds
from bench.real import corpus_archive


def _fresh_postgres(url: str) -> tuple[str, Any]:
    name = f"bench_store_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.rsplit("/", 1)[0] + "/" + name, drop


def store(quick: bool, database_url: str | None) -> dict[str, Any]:
    # lazy: the service's modules load after argument parsing (this module is importable without them)
    from syndication.db.models import Counter, Event, Item, ItemVersion, Source, Story
    from syndication.kernel.domain import PartnerPolicy
    from syndication.kernel.settings import Settings
    from syndication.pipeline.column_fit import fit_polled
    from syndication.pipeline.normalise import normalise_feed
    from syndication.runtime import jobs
    from syndication.runtime.context import open_runtime

    archive = corpus_archive()
    if archive is None:
        return {"skipped": "corpus absent"}
    feeds = parsed_feeds(archive, 10 if quick else None)
    ids = [f"f{i:03d}" for i in range(len(feeds))]
    prepared = []
    for pid, (name, feed) in zip(ids, feeds, strict=True):
        policy = PartnerPolicy(id=pid, name=pid, credit=pid)
        items, rejections = normalise_feed(feed, policy, now=NOW, document_url=f"http://127.0.0.1/{name}")
        prepared.append((pid, fit_polled(items)[0], rejections))
    drop = None
    with tempfile.TemporaryDirectory() as tmp:
        url = None
        if database_url:
            url, drop = _fresh_postgres(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        partners = [{"id": pid, "name": pid, "sources": [{"kind": "feed", "url": f"http://127.0.0.1/{pid}"}]}
                    for pid in ids]
        settings = Settings.model_validate({"data_dir": tmp, "database_url": url or "", "partners": partners})
        rt = open_runtime(settings)
        try:
            with rt.sessions() as session:
                source_of = {pid: sid for sid, pid in session.execute(select(Source.id, Source.partner_id))}
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for pid, items, rejections in prepared:
                jobs._store_normalised(rt, source_of[pid], items, rejections, jobs.SourceReport(pid, pid, "ok"),
                                       now=NOW)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            with rt.sessions() as session:
                stored = session.scalar(select(func.count()).select_from(Item)) or 0
                stories = session.scalar(select(func.count()).select_from(Story)) or 0
                # Every column of every row written (ids included: the same order of work gives the same ids).
                h = hashlib.sha256()
                for model in (Item, ItemVersion, Event, Story, Counter):
                    for row in session.execute(select(model.__table__).order_by(*model.__table__.primary_key)):
                        h.update(repr(tuple(row)).encode())
                digest = h.hexdigest()[:16]
        finally:
            rt.close()
            if drop is not None:
                drop()
    return {"feeds": len(prepared), "items": stored, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "stories": stories, "digest": digest,
            "database": "postgresql" if database_url else "sqlite"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--database-url")
    args = ap.parse_args()
    print(json.dumps(store(args.quick, args.database_url)))


if __name__ == "__main__":
    main()
