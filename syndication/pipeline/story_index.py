"""Which stored items could be the same story as this one? An in-memory index that answers without
scanning the time window. Pure: no database, no clock.

`dedupe.duplicate_reason` decides; this only narrows who is asked. Each near-duplicate rule has a
lookup returning a superset of the items the rule accepts:

- same normalised title (rule "title+simhash") and similar titles (rule "similar-title+simhash", Jaccard
  >= t; a title equal to the probe shares all its words, so the same probes find it): an inverted index of
  title words, probed with the item's rarest ``len(A) - ceil(t * len(A)) + 1`` words. Jaccard >= t implies at least
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

Compact ([hardening] 10): the index holds every item of the story window (72 h of a busy service's items),
so an item costs what it must and no more: its columns in arrays by slot (id, SimHash, publication time,
partner number), its title key once, and slot numbers in the lookups; the bands, once the index is large, in
flat tables of 2^16 buckets instead of dicts keyed by a fresh int each. Items without a SimHash are kept
(known, evictable) but looked up by no rule, since every near-duplicate rule needs a SimHash.

Written here because no maintained library indexes SimHash for Hamming-distance lookup (datasketch
indexes MinHash for Jaccard, a different fingerprint).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator, MutableSequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import combinations
from operator import is_not
from typing import Any, NamedTuple, TypeAlias

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
# Above this many items each band is a flat table of 2^16 buckets (512 kB, 2 MB for the four): a dict keyed by
# band value costs ~100 bytes per item and band (a fresh int key and its entry); a small index (one storing
# transaction's own items) keeps dicts, which cost nothing to create.
DENSE_ABOVE = 4096
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


class Near(NamedTuple):
    """An indexed item a near-duplicate rule could accept; the caller re-reads its columns before deciding."""

    id: int
    partner_id: str
    published: datetime


def _bands(simhash: int) -> Iterator[tuple[int, int]]:
    for b in range(BANDS):
        yield b, simhash >> (b * BAND_BITS) & BAND_MASK


def _micros(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class StoryIndex:
    """Candidates by title word and SimHash band. Not thread-safe: callers hold a lock."""

    def __init__(self) -> None:
        self._slot: dict[int, int] = {}  # item id -> slot in the arrays below
        self._ids = array("q")
        self._simhashes = array("Q")
        self._published = array("q")  # microseconds since 1970 (exact, unlike a float)
        self._partners = array("I")  # number in _partner_names
        self._titles: list[str | None] = []  # title key; None: no SimHash (no rule can match), or a free slot
        self._free: list[int] = []
        self._partner_names: list[str] = []
        self._partner_no: dict[str, int] = {}
        # Each key maps to one slot, or to an array of them once a second item shares it: most titles and
        # bands are one item's, and a slot is the int object the item's entry in _slot already holds.
        self._by_word: dict[str, Slots] = {}
        self._by_band: list[MutableSequence[Slots | None] | dict[int, Slots]] = [{} for _ in range(BANDS)]

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, item_id: int) -> bool:
        return item_id in self._slot

    def published(self) -> Iterator[datetime]:
        """Publication time of every indexed item."""
        for slot in self._slot.values():
            yield _EPOCH + timedelta(microseconds=self._published[slot])

    def add(self, cand: Candidate) -> None:
        """Insert, or replace the entry of the same id (an updated item's new fingerprint)."""
        if cand.id in self._slot:
            self.remove(cand.id)
        partner = self._partner_no.get(cand.partner_id)
        if partner is None:
            partner = self._partner_no[cand.partner_id] = len(self._partner_names)
            self._partner_names.append(cand.partner_id)
        title = cand.title_key if cand.simhash is not None else None
        values = (cand.id, cand.simhash or 0, _micros(cand.published), partner)
        columns = (self._ids, self._simhashes, self._published, self._partners)
        if self._free:
            slot = self._free.pop()
            for column, value in zip(columns, values, strict=True):
                column[slot] = value
            self._titles[slot] = title
        else:
            slot = len(self._ids)
            for column, value in zip(columns, values, strict=True):
                column.append(value)
            self._titles.append(title)
        self._slot[cand.id] = slot
        if title is None or cand.simhash is None:
            return
        if title:
            for word in set(title.split()):
                _put(self._by_word, word, slot)
        for b, key in _bands(cand.simhash):
            _put(self._by_band[b], key, slot)
        if len(self._slot) == DENSE_ABOVE + 1 and isinstance(self._by_band[0], dict):
            self._by_band = [_dense(band) for band in self._by_band]

    def remove(self, item_id: int) -> None:
        slot = self._slot.pop(item_id, None)
        if slot is None:
            return
        title = self._titles[slot]
        if title is not None:
            if title:
                for word in set(title.split()):
                    _discard(self._by_word, word, slot)
            for b, key in _bands(self._simhashes[slot]):
                _discard(self._by_band[b], key, slot)
        self._free_slot(slot)

    def _free_slot(self, slot: int) -> None:
        self._titles[slot] = None
        self._ids[slot] = -1
        self._free.append(slot)

    def newest_from(self, keep: int) -> datetime | None:
        """The publication time from which on the index holds its `keep` newest items (None: it holds no more
        than that): what a size bound evicts before, oldest first."""
        if keep >= len(self._slot):
            return None
        published = self._published
        times = sorted(published[slot] for slot in self._slot.values())
        return _EPOCH + timedelta(microseconds=times[len(times) - max(keep, 1)])

    def remove_published_before(self, moment: datetime) -> int:
        """Forget the items published before `moment`, each key's slots filtered once (removing them one by
        one would walk a common word's slots once per item)."""
        cut, published = _micros(moment), self._published
        old = {slot for slot in self._slot.values() if published[slot] < cut}
        if not old:
            return 0
        words: set[str] = set()
        bands: list[set[int]] = [set() for _ in range(BANDS)]
        for slot in old:
            del self._slot[self._ids[slot]]
            title = self._titles[slot]
            if title is not None:
                words.update(title.split())
                for b, key in _bands(self._simhashes[slot]):
                    bands[b].add(key)
            self._free_slot(slot)
        lookups: list[tuple[Any, set[Any]]] = [(self._by_word, words), *zip(self._by_band, bands, strict=True)]
        for index, keys in lookups:
            for key in keys:
                _drop(index, key, old)
        return len(old)

    def near(self, title_key: str, simhash: int | None) -> Iterator[Near]:
        """Every indexed item a near-duplicate rule could accept for this fingerprint (each once)."""
        if simhash is None:
            return
        seen: set[int] = set()
        titles, simhashes = self._titles, self._simhashes
        whole_title = len(title_key.split()) >= MIN_TITLE_WORDS
        for slot in self._similar_title_slots(title_key):
            title = titles[slot]
            distance = (simhashes[slot] ^ simhash).bit_count()
            if ((whole_title and distance <= TITLE_MATCH_DISTANCE and title == title_key)
                    or (distance <= SIMILAR_TITLE_DISTANCE and title is not None
                        and title_similarity(title_key, title) >= SIMILAR_TITLE)):
                seen.add(slot)
                yield self._near(slot)
        for b, key in _bands(simhash):
            band = self._by_band[b]
            get = band.get if isinstance(band, dict) else band.__getitem__
            # 137 probes per band: the lookups run in C (map over dict.get or list indexing, misses dropped by
            # `None is not`), only hits reach Python. (Not filter(None, ...): slot 0 is a slot.)
            for slots in filter(_NOT_NONE, map(get, [key ^ mask for mask in _NEIGHBOURS])):
                for slot in _slots(slots):
                    if slot not in seen and (simhashes[slot] ^ simhash).bit_count() <= BODY_MATCH_DISTANCE:
                        seen.add(slot)
                        yield self._near(slot)

    def _near(self, slot: int) -> Near:
        return Near(self._ids[slot], self._partner_names[self._partners[slot]],
                    _EPOCH + timedelta(microseconds=self._published[slot]))

    def _similar_title_slots(self, title_key: str) -> Iterable[int]:
        words = set(title_key.split())
        if not words:
            return ()
        must_share = math.ceil(SIMILAR_TITLE * len(words) - 1e-9)  # float noise must not overshoot
        probes = sorted(words, key=lambda w: (_count(self._by_word.get(w)), w))[: len(words) - must_share + 1]
        found: set[int] = set()
        for word in probes:
            found.update(_slots(self._by_word.get(word)))
        return found


Slots: TypeAlias = "int | array[int]"  # one slot, or an array("I") of them
_NOT_NONE = partial(is_not, None)


def _slots(value: Slots | None) -> Iterable[int]:
    if value is None:
        return ()
    return (value,) if isinstance(value, int) else value


def _count(value: Slots | None) -> int:
    return 0 if value is None else 1 if isinstance(value, int) else len(value)


def _dense(band: Any) -> list[Slots | None]:
    table: list[Slots | None] = [None] * (1 << BAND_BITS)
    for key, slots in band.items():
        table[key] = slots
    return table


def _put(index: Any, key: Any, slot: int) -> None:
    current = index.get(key) if isinstance(index, dict) else index[key]
    if current is None:
        index[key] = slot
    elif isinstance(current, int):
        if current != slot:
            index[key] = array("I", (current, slot))
    else:  # a slot is new to every key it is put under: add() removed the item's old entry first
        current.append(slot)


def _discard(index: Any, key: Any, slot: int) -> None:
    current = index.get(key) if isinstance(index, dict) else index[key]
    if current is None:
        return
    if isinstance(current, int):
        if current == slot:
            _clear(index, key)
        return
    try:
        current.remove(slot)
    except ValueError:
        return
    if len(current) == 1:
        index[key] = current[0]
    elif not current:
        _clear(index, key)


def _drop(index: Any, key: Any, slots: set[int]) -> None:
    current = index.get(key) if isinstance(index, dict) else index[key]
    if current is None:
        return
    kept = [slot for slot in _slots(current) if slot not in slots]
    if not kept:
        _clear(index, key)
    elif len(kept) == 1:
        index[key] = kept[0]
    elif len(kept) < _count(current):
        index[key] = array("I", kept)


def _clear(index: Any, key: Any) -> None:
    if isinstance(index, dict):
        del index[key]
    else:
        index[key] = None
