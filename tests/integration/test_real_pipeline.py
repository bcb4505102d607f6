"""[real-feeds] The per-item work gives the same outputs on every entry of the 112 real feeds as it did when the
expectations were recorded (tests/fixtures/real_pipeline_digests.json): the sanitised body, every credit read from
it, the fingerprints. It guards the speed work on sanitising, extraction and fingerprints (issue 12), where an
optimisation must not change a stored value. After a deliberate change of outputs: `python -m bench.pipeline
--record`, and say why in the commit.
"""

from __future__ import annotations

import json

import pytest

from bench import pipeline
from tests.conftest import SHARED

ARCHIVE = SHARED / "corpora" / "realfeeds.tar.xz"

pytestmark = [
    pytest.mark.timeout(600),  # ~15 s CPU: parsing 112 feeds, normalising ~3,000 entries
    pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"real-feeds corpus absent ({ARCHIVE})"),
]


def test_real_feed_entries_normalise_to_the_recorded_outputs() -> None:
    expected: dict[str, list[str]] = json.loads(pipeline.FIXTURE.read_text())
    got = pipeline.digests(pipeline.normalise_all(pipeline.parsed_feeds(ARCHIVE)))
    assert sum(map(len, got.values())) > 2900  # the corpus's ~3,000 entries: not a vacuous pass
    changed = {
        name: [i for i, (a, b) in enumerate(zip(items, expected.get(name, []), strict=False)) if a != b]
        or f"{len(expected.get(name, []))} items recorded, {len(items)} now"
        for name, items in got.items() if items != expected.get(name)
    }
    assert not changed, f"feeds whose items normalise differently (feed: item positions): {changed}"
    assert set(got) == set(expected)


def test_summaries_of_real_feeds_are_read_as_far_as_needed() -> None:
    """A summary keeps 600 characters of its text: `plain_text_head` reads a long one up to a tag past that, and
    what it gives is the start of the whole text (or all of it) on every summary and content of the real feeds."""
    from syndication.pipeline.text import plain_text, plain_text_head  # lazy: beside the one test that needs them

    read_partly = 0
    for _, feed in pipeline.parsed_feeds(ARCHIVE):
        for entry in feed.entries:
            for raw in (entry.summary_html, entry.content_html):
                head, whole = plain_text_head(raw, 600), plain_text(raw)
                assert whole.startswith(head) and (head == whole or len(head) > 600), raw[:200] if raw else raw
                read_partly += head != whole
    assert read_partly > 1000  # the real feeds' long summaries and contents: not a vacuous pass
