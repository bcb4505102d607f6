"""Which stored items could be the same story as this one? An in-memory index that answers without
scanning the time window. Pure: no database, no clock.

`dedupe.duplicate_reason` decides; this only narrows who is asked. Each near-duplicate rule has a
lookup returning a superset of the items the rule accepts:

- same normalised title (rule "title+simhash"): a dict by title key;
- similar titles (rule "similar-title+simhash", Jaccard >= t): an inverted index of title words, probed
  with the item's rarest ``len(A) - ceil(t * len(A)) + 1`` words. Jaccard >= t implies at least
  ``ceil(t * len(A))`` shared words, so at most ``len(A) - ceil(t * len(A))`` of A's words are missing
  from a matching title and any larger subset of A contains a shared word (the prefix filter of
  similarity joins, with "rarest" chosen per probe so common words are rarely walked);
- close bodies (rule "simhash", distance <= BODY_MATCH_DISTANCE = 10): the 64 bits cut into 4 bands of
  16; a distance of at most 10 leaves some band within 2 bits (pigeonhole), so probing each band's
  values within 2 bits (137 keys per band) finds every such item (multi-index hashing, as in Manku,
  Jain and Das Sarma, "Detecting near-duplicates for web crawling", WWW 2007).

Exact matches (same URL or body hash, at any time) are looked up in the database, not here. Every
lookup applies its rule's SimHash/title bound, so what comes back is, apart from the time window,
what `duplicate_reason` accepts; the caller still asks it.

Written here because no maintained library indexes SimHash for Hamming-distance lookup (datasketch
indexes MinHash for Jaccard, a different fingerprint).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import combinations
from operator import is_not
from typing import Any

from syndication.pipeline.dedupe import (
    BODY_MATCH_DISTANCE,
    MIN_TITLE_WORDS,
    SIMILAR_TITLE,
    SIMILAR_TITLE_DISTANCE,
    TITLE_MATCH_DISTANCE,
    title_similarity,
)

BANDS = 4
BAND_BITS = 64 // BANDS
BAND_MASK = (1 << BAND_BITS) - 1
BAND_RADIUS = BODY_MATCH_DISTANCE // BANDS  # pigeonhole: some band is within this many bits
# XOR masks of every 16-bit value within BAND_RADIUS bits of 0 (1 + 16 + 120 = 137 for radius 2).
_NEIGHBOURS: tuple[int, ...] = tuple(
    sum(1 << b for b in bits) for r in range(BAND_RADIUS + 1) for bits in combinations(range(BAND_BITS), r)
)


@dataclass(slots=True)
class Candidate:
    """What story matching needs of a stored item: its fingerprint columns, owner and story."""

    id: int
    partner_id: str
    url: str | None
    title_key: str
    body_hash: str | None
    simhash: int | None
    published: datetime
    story_id: int | None


def _bands(simhash: int) -> Iterator[tuple[int, int]]:
    for b in range(BANDS):
        yield b, simhash >> (b * BAND_BITS) & BAND_MASK


class StoryIndex:
    """Candidates by title key, title word and SimHash band. Not thread-safe: callers hold a lock."""

    def __init__(self) -> None:
        self.items: dict[int, Candidate] = {}
        # Each key maps to one item id, or to a set of them once a second item shares it: most titles and
        # bands are one item's, and a one-element set costs ~200 bytes (five per item) where an int costs none.
        self._by_title: dict[str, Ids] = {}
        self._by_word: dict[str, Ids] = {}
        self._by_band: list[dict[int, Ids]] = [{} for _ in range(BANDS)]

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item_id: int) -> bool:
        return item_id in self.items

    def add(self, cand: Candidate) -> None:
        """Insert, or replace the entry of the same id (an updated item's new fingerprint)."""
        if cand.id in self.items:
            self.remove(cand.id)
        self.items[cand.id] = cand
        if cand.title_key:
            _put(self._by_title, cand.title_key, cand.id)
            for word in set(cand.title_key.split()):
                _put(self._by_word, word, cand.id)
        if cand.simhash is not None:
            for b, key in _bands(cand.simhash):
                _put(self._by_band[b], key, cand.id)

    def remove(self, item_id: int) -> None:
        cand = self.items.pop(item_id, None)
        if cand is None:
            return
        if cand.title_key:
            _discard(self._by_title, cand.title_key, item_id)
            for word in set(cand.title_key.split()):
                _discard(self._by_word, word, item_id)
        if cand.simhash is not None:
            for b, key in _bands(cand.simhash):
                _discard(self._by_band[b], key, item_id)

    def remove_published_before(self, moment: datetime) -> int:
        old = [c.id for c in self.items.values() if c.published < moment]
        for item_id in old:
            self.remove(item_id)
        return len(old)

    def near(self, title_key: str, simhash: int | None) -> Iterator[Candidate]:
        """Every indexed item a near-duplicate rule could accept for this fingerprint (each once)."""
        if simhash is None:
            return
        seen: set[int] = set()
        items = self.items
        if len(title_key.split()) >= MIN_TITLE_WORDS:
            for item_id in _ids(self._by_title.get(title_key)):
                cand = items[item_id]
                if cand.simhash is not None and (cand.simhash ^ simhash).bit_count() <= TITLE_MATCH_DISTANCE:
                    seen.add(item_id)
                    yield cand
        for item_id in self._similar_title_ids(title_key):
            if item_id in seen:
                continue
            cand = items[item_id]
            if (cand.simhash is not None and (cand.simhash ^ simhash).bit_count() <= SIMILAR_TITLE_DISTANCE
                    and title_similarity(title_key, cand.title_key) >= SIMILAR_TITLE):
                seen.add(item_id)
                yield cand
        for b, key in _bands(simhash):
            # 137 probes per band: the lookups run in C (map over dict.get, misses dropped by `None is not`),
            # only hits reach Python. (Not filter(None, ...): an item id may be 0.)
            for ids in filter(_NOT_NONE, map(self._by_band[b].get, [key ^ mask for mask in _NEIGHBOURS])):
                for item_id in _ids(ids):
                    if item_id in seen:
                        continue
                    cand = items[item_id]
                    assert cand.simhash is not None
                    if (cand.simhash ^ simhash).bit_count() <= BODY_MATCH_DISTANCE:
                        seen.add(item_id)
                        yield cand

    def _similar_title_ids(self, title_key: str) -> Iterable[int]:
        words = set(title_key.split())
        if not words:
            return ()
        must_share = math.ceil(SIMILAR_TITLE * len(words) - 1e-9)  # float noise must not overshoot
        probes = sorted(words, key=lambda w: (_count(self._by_word.get(w)), w))[: len(words) - must_share + 1]
        found: set[int] = set()
        for word in probes:
            found.update(_ids(self._by_word.get(word)))
        return found


Ids = int | set[int]
_NOT_NONE = partial(is_not, None)


def _ids(value: Ids | None) -> Iterable[int]:
    if value is None:
        return ()
    return (value,) if isinstance(value, int) else value


def _count(value: Ids | None) -> int:
    return 0 if value is None else 1 if isinstance(value, int) else len(value)


def _put(index: dict[Any, Ids], key: object, item_id: int) -> None:
    current = index.get(key)
    if current is None:
        index[key] = item_id
    elif isinstance(current, int):
        if current != item_id:
            index[key] = {current, item_id}
    else:
        current.add(item_id)


def _discard(index: dict[Any, Ids], key: object, item_id: int) -> None:
    current = index.get(key)
    if current is None:
        return
    if isinstance(current, int):
        if current == item_id:
            del index[key]
        return
    current.discard(item_id)
    if len(current) == 1:
        index[key] = next(iter(current))
    elif not current:
        del index[key]
