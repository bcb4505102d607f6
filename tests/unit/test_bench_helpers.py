"""Pure helpers of the benchmark harness (bench/): statistics, content generator, TOML writer."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from lxml import etree

from bench.common import article, median, percentile, rss_feed, rss_feed_of_size
from bench.procs import write_toml
from syndication.kernel.settings import load_settings


def test_median_odd_even_and_unsorted() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_articles_are_deterministic_and_seed_shaped() -> None:
    a, b = article(3, 4), article(3, 4)
    assert a == b
    assert article(3, 5) != a and article(3, 4, seed=2) != a
    assert 3000 <= len(a.html) <= 5000
    for marker in ("<p>source: ", "<p>photo: ", "picture courtesy of", "Related articles", "Editor's choice"):
        assert marker in a.html
    # the dateline opens the body: "<Place>, <day> <Month> –"
    assert a.html.startswith("<p>") and " – " in a.html.split("</p>", 1)[0]


def test_rss_feed_is_well_formed_with_the_requested_items() -> None:
    body = rss_feed(1, 5)
    root = etree.fromstring(body)
    assert len(root.findall("channel/item")) == 5
    assert rss_feed(1, 5) == body


def test_rss_feed_of_size_reaches_the_target() -> None:
    body, items = rss_feed_of_size(200_000)
    assert len(body) >= 200_000 and len(body) < 200_000 * 1.2
    assert body.count(b"<item>") == items


def test_write_toml_round_trips_through_settings(tmp_path: Path) -> None:
    data = {
        "data_dir": str(tmp_path / "var"),
        "fetch": {"allow_private_addresses": True},
        "schedule": {"tick": 0.25},
        "partners": [{"id": "a1", "name": 'Agency "One"', "sources": [
            {"kind": "feed", "url": "http://127.0.0.1:1/feed.xml", "interval": 60}, {"kind": "push"}]}],
    }
    path = write_toml(tmp_path / "c.toml", data)
    assert tomllib.loads(path.read_text()) == data
    settings = load_settings(path)
    assert settings.partners[0].name == 'Agency "One"' and settings.schedule.tick == 0.25


def test_bit_sliced_simhash_equals_the_reference_loop() -> None:
    import random

    from syndication.pipeline import dedupe

    fast_simhash = dedupe.simhash

    rng = random.Random(5)
    vocab = [f"w{i}" for i in range(300)]
    for n in (0, 5, dedupe.MIN_BODY_WORDS, 40, 450, 1200):
        words = [rng.choice(vocab) for _ in range(n)]
        assert fast_simhash(words) == dedupe.simhash_reference(words)
    body = dedupe.body_words(article(2, 9).html)
    assert fast_simhash(body) == dedupe.simhash_reference(body)


# ---------------------------------------------------------------- workload `real`


def test_content_type_names_the_feed_kind() -> None:
    from bench.feedserver import content_type_of

    assert content_type_of(b'<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>') == "application/rss+xml"
    assert content_type_of(b'<feed xmlns="http://www.w3.org/2005/Atom">') == "application/atom+xml"
    assert content_type_of(b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x">') == "application/rdf+xml"
    assert content_type_of(b"<html><body>not a feed</body></html>") == "application/xml"
    assert content_type_of(b"<rssfeed>") == "application/xml"


def _corpus(root: Path, names: list[str]) -> Path:
    import io
    import tarfile

    path = root / "corpora" / "realfeeds.tar.xz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:xz") as tar:
        for name in names:
            data = f"<rss><channel><title>{name}</title></channel></rss>".encode()
            info = tarfile.TarInfo(f"dev/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_real_corpus_is_found_through_the_shared_dir_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import real

    archive = _corpus(tmp_path / "elsewhere", ["b", "a"])
    monkeypatch.setenv("SYNDICATION_SHARED_DIR", str(tmp_path / "elsewhere"))
    assert real.corpus_archive() == archive
    monkeypatch.setenv("SYNDICATION_SHARED_DIR", str(tmp_path / "nothing-here"))
    monkeypatch.setattr(real, "REPO", tmp_path / "clone")  # and nothing beside the checkout either
    assert real.corpus_archive() is None
    assert real.real(None, 1, tmp_path / "work") == {"skipped": "corpus absent"}
    assert real.describe({"skipped": "corpus absent"}) == ["real: skipped: corpus absent"]


def test_real_corpus_unpacks_flat_and_quick_takes_the_first_feeds(tmp_path: Path) -> None:
    from bench import real

    archive = _corpus(tmp_path, ["c3", "a1", "b2"])
    assert [p.name for p in real.unpack(archive, tmp_path / "all", None)] == ["a1", "b2", "c3"]
    quick = real.unpack(archive, tmp_path / "quick", 2)
    assert [p.name for p in quick] == ["a1", "b2"]
    assert quick[0].read_bytes().startswith(b"<rss>")
