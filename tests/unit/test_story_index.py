"""The story index finds exactly the items the near-duplicate rules accept: never fewer (a missed story),
and, apart from the time window the caller checks, no more."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from syndication.pipeline.dedupe import Fingerprint, duplicate_reason
from syndication.pipeline.story_index import Candidate, StoryIndex

WHEN = datetime(2026, 11, 1, 12, tzinfo=UTC)
WORDS = ["baku", "talks", "gas", "pipeline", "minister", "says", "the", "of", "new", "deal", "summit", "caspian"]


def _fp(c: Candidate) -> Fingerprint:
    return Fingerprint(None, c.title_key, None, c.simhash, c.published, 0)


def _flip(value: int, rng: random.Random, bits: int) -> int:
    for b in rng.sample(range(64), bits):
        value ^= 1 << b
    return value


@st.composite
def population(draw: st.DrawFn) -> tuple[Candidate, list[Candidate]]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    base = rng.getrandbits(64)

    def title() -> str:
        return " ".join(rng.sample(WORDS, rng.randint(0, 8)))

    probe = Candidate(0, "p", None, title(), None, base, WHEN, None)
    others = []
    for i in range(1, draw(st.integers(1, 80))):
        # Distances around every rule's bound (10, 20, 24) and far beyond; titles equal, similar or not.
        simhash = None if rng.random() < 0.05 else _flip(base, rng, rng.choice([0, 2, 9, 10, 11, 19, 20, 21, 24,
                                                                                  25, 32, rng.randint(0, 64)]))
        t = probe.title_key if rng.random() < 0.3 else title()
        others.append(Candidate(i, "q", None, t, None, simhash, WHEN, None))
    return probe, others


@given(population())
@settings(max_examples=300, deadline=None)
def test_near_finds_exactly_what_the_rules_accept(case: tuple[Candidate, list[Candidate]]) -> None:
    probe, others = case
    index = StoryIndex()
    for c in others:
        index.add(c)
    found = [c.id for c in index.near(probe.title_key, probe.simhash)]
    assert len(found) == len(set(found)), "each candidate once"
    expected = {c.id for c in others if duplicate_reason(_fp(probe), _fp(c)) is not None}
    assert set(found) == expected


def test_replacing_and_removing_entries_updates_every_lookup() -> None:
    index = StoryIndex()
    index.add(Candidate(1, "a", None, "gas pipeline talks in baku", None, 0xFFFF, WHEN, None))
    assert [c.id for c in index.near("gas pipeline talks in baku", 0xFFFF)] == [1]
    # Updated item: a different body and title; the old fingerprint must no longer be found.
    index.add(Candidate(1, "a", None, "minister says new deal", None, 0xFFFF << 40, WHEN, None))
    assert list(index.near("gas pipeline talks in baku", 0xFFFF)) == []
    assert [c.id for c in index.near("minister says new deal", 0xFFFF << 40)] == [1]
    index.remove(1)
    assert list(index.near("minister says new deal", 0xFFFF << 40)) == []
    assert len(index) == 0


def test_old_entries_are_evicted_by_publication_time() -> None:
    index = StoryIndex()
    index.add(Candidate(1, "a", None, "t", None, 1, datetime(2026, 1, 1, tzinfo=UTC), None))
    index.add(Candidate(2, "a", None, "t", None, 1, WHEN, None))
    assert index.remove_published_before(datetime(2026, 6, 1, tzinfo=UTC)) == 1
    assert 1 not in index and 2 in index


def test_the_shared_index_forgets_items_behind_the_window_it_needs() -> None:
    """[hardening] 10: bounded by time. Once the window the new items need has moved on by TRIM_AFTER, the
    items published before it leave the index (they were kept up to four windows, 12 days, before) — when the
    index holds more than `forget_above` items (here: any)."""
    from datetime import timedelta
    from typing import Any, cast

    from syndication.pipeline.dedupe import WINDOW
    from syndication.pipeline.stories import TRIM_AFTER, _Shared

    shared = _Shared(forget_above=0)
    shared.lo, shared.hi = WHEN, WHEN + timedelta(days=10)
    for day in range(10):
        shared.index.add(Candidate(day + 1, "p", None, f"story {day}", None, day, WHEN + timedelta(days=day), None))
    lo = WHEN + TRIM_AFTER + timedelta(days=1)
    shared.cover(cast(Any, None), lo, lo + 2 * WINDOW)  # nothing to load: the range is already covered
    assert shared.lo == lo
    assert min(shared.index.published()) >= lo
    assert len(shared.index) == 10 - 2


def test_a_small_shared_index_keeps_what_it_has_read() -> None:
    """Below `forget_above` items nothing is forgotten when time moves on: real partners' documents span years,
    and forgetting on every later-starting document made the next earlier-starting one read the years back."""
    from datetime import timedelta
    from typing import Any, cast

    from syndication.pipeline.dedupe import WINDOW
    from syndication.pipeline.stories import TRIM_AFTER, _Shared

    shared = _Shared(forget_above=100)
    shared.lo, shared.hi = WHEN, WHEN + timedelta(days=10)
    for day in range(10):
        shared.index.add(Candidate(day + 1, "p", None, f"story {day}", None, day, WHEN + timedelta(days=day), None))
    lo = WHEN + TRIM_AFTER + timedelta(days=1)
    shared.cover(cast(Any, None), lo, lo + 2 * WINDOW)
    assert shared.lo == WHEN and len(shared.index) == 10


def _population(n: int, seed: int) -> list[Candidate]:
    """n items around a few story SimHashes, titles from a small vocabulary (many shared words and titles),
    published a minute apart, some without a SimHash."""
    from datetime import timedelta

    rng = random.Random(seed)
    stories = [rng.getrandbits(64) for _ in range(40)]
    out = []
    for i in range(n):
        simhash = None if rng.random() < 0.02 else _flip(rng.choice(stories), rng, rng.choice([0, 3, 9, 12, 22, 30]))
        title = " ".join(rng.sample(WORDS, rng.randint(3, 8)))
        out.append(Candidate(1000 + i, f"p{i % 7}", None, title, None, simhash, WHEN + timedelta(minutes=i), None))
    return out


def _expected(probe: Candidate, items: list[Candidate]) -> set[int]:
    return {c.id for c in items if duplicate_reason(_fp(probe), _fp(c)) is not None}


def test_a_large_index_still_finds_exactly_what_the_rules_accept() -> None:
    """Above DENSE_ABOVE items the bands are flat tables and items live in arrays by slot: the same answers,
    through eviction by time, replacement and slot reuse."""
    from syndication.pipeline.story_index import DENSE_ABOVE

    items = _population(DENSE_ABOVE + 1500, seed=3)
    index = StoryIndex()
    for c in items:
        index.add(c)
    probes = _population(25, seed=4)
    for probe in probes:
        hits = [(h.id, h.partner_id, h.published) for h in index.near(probe.title_key, probe.simhash)]
        assert {h[0] for h in hits} == _expected(probe, items) and len(hits) == len({h[0] for h in hits})
        assert all((i, p, t) == (c.id, c.partner_id, c.published) for i, p, t in hits
                   for c in (items[i - 1000],))
    cut = items[len(items) // 2].published
    assert index.remove_published_before(cut) == len(items) // 2
    kept = [c for c in items if c.published >= cut]
    # Replaced entries (an updated item) and new ones taking the freed slots.
    changed = [Candidate(c.id, c.partner_id, None, "talks summit caspian deal", None, c.simhash, c.published, None)
               for c in kept[:300]]
    fresh = _population(800, seed=5)
    fresh = [Candidate(c.id + 100_000, c.partner_id, None, c.title_key, None, c.simhash, c.published, None)
             for c in fresh]
    for c in changed + fresh:
        index.add(c)
    now = {c.id: c for c in kept} | {c.id: c for c in changed + fresh}
    assert len(index) == len(now)
    for probe in probes:
        assert {h.id for h in index.near(probe.title_key, probe.simhash)} == _expected(probe, list(now.values()))
    assert sorted(index.published()) == sorted(c.published for c in now.values())


def test_an_indexed_item_costs_a_few_hundred_bytes() -> None:
    """[hardening] 10: the index holds every item of the 72 h story window, so its size per item is the slope
    of a long-running service's memory. Measured between 10,000 and 20,000 items (the fixed band tables cancel
    out), with titles and ids as fresh objects, as read from the database. It was ~1.3 kB (an object per item,
    a set or dict entry keyed by a fresh int per band)."""
    import gc
    import tracemalloc

    items = _population(20_000, seed=6)
    index = StoryIndex()

    def add(c: Candidate) -> None:  # fresh strings and ints, as read from the database; the index keeps its own
        index.add(Candidate(c.id * 1, "".join(c.partner_id), None, "".join(c.title_key), None, c.simhash,
                            c.published, None))

    for c in items[:10_000]:
        add(c)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for c in items[10_000:]:
            add(c)
        gc.collect()
        per_item = (tracemalloc.get_traced_memory()[0] - before) / 10_000
    finally:
        tracemalloc.stop()
    # ~420 now, of which the title key the index keeps (~50 bytes + its ~40 characters here) and its dict entry.
    assert per_item < 500, f"{per_item:.0f} bytes per indexed item"


def test_newest_from_names_where_the_newest_items_start() -> None:
    from datetime import timedelta

    index = StoryIndex()
    for i in range(10):
        index.add(Candidate(i + 1, "p", None, f"story {i}", None, i, WHEN + timedelta(minutes=i), None))
    assert index.newest_from(10) is None and index.newest_from(20) is None
    assert index.newest_from(3) == WHEN + timedelta(minutes=7)
    assert index.remove_published_before(WHEN + timedelta(minutes=7)) == 7


def test_the_shared_index_holds_at_most_its_bound_forgetting_the_oldest_first() -> None:
    """[hardening] 10: bounded by size too. A window busier than the bound (10 items/s for 72 h is 2.6 million
    items, ~1 GB) keeps the newest `max_items`; it used to be dropped whole past 500,000 items and read back
    whole from the database for the next document, every document."""
    from datetime import timedelta
    from typing import Any, cast

    from syndication.pipeline.stories import _Shared

    shared = _Shared(max_items=100)
    shared.lo, shared.hi = WHEN, WHEN + timedelta(days=1)
    for i in range(150):
        shared.index.add(Candidate(i + 1, "p", None, f"story {i}", None, i, WHEN + timedelta(minutes=i), None))
    shared.cover(cast(Any, None), WHEN, WHEN + timedelta(days=1))  # covered: nothing to read, only the bound
    assert len(shared.index) == 90  # down to 9/10 of the bound, so it does not sort again for every new item
    assert min(shared.index.published()) == WHEN + timedelta(minutes=60) == shared.floor == shared.lo
    assert all(i in shared.index for i in range(61, 151))
    # What the bound forgot is not read back (the session would be used): it would only be forgotten again.
    shared.cover(cast(Any, None), WHEN - timedelta(days=3), WHEN + timedelta(days=1))
    shared.cover(cast(Any, None), WHEN - timedelta(days=9), WHEN - timedelta(days=8))
    assert len(shared.index) == 90 and shared.lo == WHEN + timedelta(minutes=60)


def test_a_floor_set_by_the_bound_goes_once_time_has_moved_past_it() -> None:
    from datetime import timedelta
    from typing import Any, cast

    from syndication.pipeline.stories import _Shared

    window = timedelta(hours=1)
    shared = _Shared(max_items=100, window=window, forget_above=0)
    shared.lo, shared.hi = WHEN, WHEN + timedelta(days=1)
    for i in range(150):
        shared.index.add(Candidate(i + 1, "p", None, f"story {i}", None, i, WHEN + timedelta(minutes=i), None))
    shared.cover(cast(Any, None), WHEN, WHEN + timedelta(days=1))
    assert shared.floor == WHEN + timedelta(minutes=60)
    # The window needed moves on by more than a quarter of the (configured) window: forgotten by time.
    lo = WHEN + timedelta(minutes=60) + window / 4 + timedelta(minutes=1)
    shared.cover(cast(Any, None), lo, WHEN + timedelta(days=1))
    assert shared.floor is None and shared.lo == lo and min(shared.index.published()) >= lo
