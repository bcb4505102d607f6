"""[real-feeds] Done when: the 112 real feeds of ../shared/corpora/realfeeds.tar.xz, served on loopback as their
sites served them, go through the real `syndication ingest` command: every entry is stored, nothing is
dead-lettered, every date is one every layer holds (or set aside with the partner's text), and every feed
published afterwards is valid (Atom RELAX NG, JSON Feed schema, feedparser bozo 0).

"Every entry" is feedparser's count, computed here over the same bytes, less the entries a feed repeats
in the same document (same id and same link as an earlier entry: the partner listing one item twice, stored
once by design — `normalise.assign_keys`).
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import create_engine, func, select

from bench import procs, real
from bench.feedserver import content_type_of
from syndication.db.models import DeadLetter, Item
from syndication.pipeline.dates import EARLIEST, FUTURE_TOLERANCE
from tests.conftest import SHARED
from tests.feedcheck import assert_valid_atom, assert_valid_json_feed, assert_valid_ninjs, parse_clean

ARCHIVE = SHARED / "corpora" / real.ARCHIVE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1200),  # about 2 minutes on an idle 2-core machine; the ingest alone is 45 s of it
    pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"real-feeds corpus absent ({ARCHIVE})"),
]


def feedparser_counts(feeds: list[Path]) -> dict[str, tuple[int, int, int]]:
    """Per feed: feedparser's entries, the in-document repeats among them, the entries dated before EARLIEST.
    Parsed as bench.parse_alone does (the ratio's baseline), with the Content-Type the server sends."""
    out: dict[str, tuple[int, int, int]] = {}
    for path in feeds:
        body = path.read_bytes()
        doc = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False,
                               response_headers={"content-type": content_type_of(body)})
        keys = Counter((e.get("id"), e.get("link")) for e in doc.entries)
        early = sum(1 for e in doc.entries if e.get("published_parsed") and e["published_parsed"].tm_year < 1970)
        out[path.name] = (len(doc.entries), sum(n - 1 for n in keys.values()), early)
    return out


def test_every_real_entry_is_stored_and_published_validly(tmp_path: Path) -> None:
    feeds = real.unpack(ARCHIVE, tmp_path / "realfeeds", None)
    expected = feedparser_counts(feeds)
    with procs.feed_server(tmp_path / "realfeeds", sniff=True) as base:
        run = real.ingest_once(tmp_path, "ingest", base, feeds, 0)
    assert run["dead_letters"] == 0
    assert run["source_errors"] == []
    data_dir = tmp_path / "ingest"
    engine = create_engine(f"sqlite:///{data_dir / 'syndication.db'}")
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(select(Item.partner_id, func.count()).group_by(Item.partner_id)).all())
            assert conn.scalar(select(func.count()).select_from(DeadLetter)) == 0
            rows = conn.execute(select(Item.partner_id, Item.published_at, Item.updated_at, Item.first_seen_at,
                                       Item.partner_dates)).all()
            # SQL NULL (not JSON null) when nothing was set aside: operators can query for the notes.
            noted = conn.scalar(select(func.count()).select_from(Item).where(Item.partner_dates.is_not(None)))
    finally:
        engine.dispose()
    short = {name: (stored.get(name, 0), entries - repeats) for name, (entries, repeats, _) in expected.items()
             if stored.get(name, 0) < entries - repeats}
    assert not short, f"feeds with entries not stored (stored, expected): {short}"
    total = sum(entries - repeats for entries, repeats, _ in expected.values())
    assert sum(stored.values()) >= total > 2900  # the corpus's ~3,000 entries, not a vacuous pass

    set_aside: Counter[str] = Counter()
    for partner, published, updated, first_seen, notes in rows:
        assert EARLIEST <= published <= first_seen + FUTURE_TOLERANCE, (partner, published)
        assert published <= updated <= first_seen + FUTURE_TOLERANCE, (partner, updated)
        for note in notes or ():
            assert note["raw"] and note["reason"], note
            if note["field"] == "published":
                set_aside[partner] += 1
    assert noted == sum(1 for row in rows if row[4])
    early = {name: n for name, (_, _, n) in expected.items() if n}
    assert early, "the corpus carries Hugo's 0001-01-01 pages: the fixture changed?"
    for name, n in early.items():
        assert set_aside[name] >= n, f"{name}: {n} entries dated before 1970, {set_aside[name]} kept with a note"

    checked = validate_published(data_dir / "public")
    assert checked[".atom"] > 100 and checked[".json"] > 100 and checked[".rss"] > 100
    assert checked[".ninjs.json"] > 100


def validate_published(public: Path) -> Counter[str]:
    """tests.feedcheck's checks over every published file, as validate_tree runs them, less feedparser's bozo
    pass over Atom files the RELAX NG schema has already validated: the corpus publishes 150 MB, and that pass
    alone took 80 s of this 2-core machine."""
    counts: Counter[str] = Counter()
    for path in sorted(public.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        data, name = path.read_bytes(), str(path.relative_to(public))
        if path.suffix == ".atom":
            assert_valid_atom(data, name)
        elif path.suffix == ".rss":
            parse_clean(data, name)
        elif path.name.endswith(".ninjs.json"):
            assert_valid_ninjs(data, name)
            counts[".ninjs.json"] += 1
            continue
        elif path.suffix == ".json":
            assert_valid_json_feed(data, name)
        else:
            continue
        counts[path.suffix] += 1
    return counts
