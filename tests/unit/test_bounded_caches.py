"""[hardening] 10: in-memory caches are bounded by bytes (what each new item or file leaves behind goes)."""

from __future__ import annotations

import gc
import os
import random
import weakref
from dataclasses import replace
from functools import partial
from pathlib import Path

from syndication.kernel.lru import ENTRY_OVERHEAD, ByteLRU, LiveMemo
from syndication.kernel.settings import load_settings
from syndication.publish.feeds import FragmentCache, _make_parts, _Parts
from syndication.web.app import FileCache
from tests.unit.test_publish_cache import random_item


def test_byte_lru_evicts_least_recently_used_within_its_bound() -> None:
    lru: ByteLRU[bytes] = ByteLRU(10_000, len)
    for i in range(100):
        lru.put(i, b"x" * 1000)
        if i == 50:
            assert lru.get(45) is not None  # touched: kept past older entries
    assert lru.bytes <= 10_000
    assert len(lru) == 10_000 // (1000 + ENTRY_OVERHEAD)
    assert lru.get(99) is not None and lru.get(0) is None
    lru.put("huge", b"y" * 20_000)  # larger than the bound: not kept, nothing evicted for it
    assert lru.get("huge") is None and lru.get(99) is not None


def test_file_cache_holds_files_and_gzip_encodings_within_its_bound(tmp_path: Path) -> None:
    cache = FileCache(max_bytes=3 * 1024 * 1024)
    for i in range(60):  # 60 archive pages of 200 KB each: 12 MB read
        p = tmp_path / f"page{i}.atom"
        p.write_bytes(os.urandom(200_000))
        data, etag, _ = cache.get(p) or (b"", "", "")
        assert len(data) == 200_000
        cache.gzipped(etag, data)  # random bytes do not compress: 200 KB each
    assert cache._entries.bytes <= 2 * 1024 * 1024
    assert cache._gz.bytes <= 1024 * 1024
    last = tmp_path / "page59.atom"
    assert cache.get(last) is not None and cache._entries.get(last) is not None


def test_rendered_entries_are_bounded_by_the_setting_counting_their_keys() -> None:
    cache = FragmentCache(max_bytes=100_000)
    for i in range(10_000):  # small entries: the keys are most of the memory
        cache.get(("atom", "ctx", i.to_bytes(16, "big")), lambda: b"<entry/>")
    assert len(cache) <= 100_000 // (len(b"<entry/>") + 300)
    assert load_settings(None).cache.entries_mb == 64 and load_settings(None).cache.files_mb == 64


def test_item_digests_are_memoised_while_the_item_lives_and_not_after() -> None:
    cache = FragmentCache(digest_bytes=1_000_000)
    base = random_item(random.Random(2), 1)
    items = [replace(base, id=i, content_html="x" * 100_000) for i in range(50)]  # 5 MB of items, all in use
    digests = [cache.digest(item) for item in items]
    assert len({*digests}) == 50 and len(cache._digests) == 50  # a digest is small: all fit the bound
    assert [cache.digest(item) for item in items] == digests
    watch = weakref.ref(items[0])
    del items
    gc.collect()
    assert watch() is None  # the memo does not keep the items (and their bodies) alive
    assert len(cache._digests) == 0 and cache._digests.bytes == 0


def test_a_live_memo_holds_its_objects_weakly_within_a_byte_bound() -> None:
    made: list[int] = []

    def value(n: int) -> tuple[str, int]:
        made.append(n)
        return "v" * n, n

    memo: LiveMemo[str] = LiveMemo(10_000)
    keep = [Box(i) for i in range(100)]
    for box in keep:
        memo.get(box, lambda b=box: value(1000 + b.n))  # type: ignore[misc]
    assert memo.bytes <= 10_000 and 0 < len(memo) < 10  # 100 KB of values: the newest kept
    made.clear()
    assert memo.get(keep[-1], lambda: value(5)) == "v" * 1099 and made == []  # found, not made again
    assert memo.get(keep[0], lambda: value(7)) == "v" * 7  # evicted: made again
    # A dead object's id may be taken by the next object: its value is never handed out for that one.
    for n in range(200):
        box = Box(n)
        assert memo.get(box, lambda n=n: value(n)) == "v" * n  # type: ignore[misc]
        del box
    assert len(memo) <= len(keep)  # the dead boxes' entries are gone, the live ones' may stay
    # What takes no weak reference is made each time, never kept.
    made.clear()
    assert memo.get((1, 2), lambda: value(3)) == "vvv" and memo.get((1, 2), lambda: value(3)) == "vvv"
    assert made == [3, 3]


class Box:
    def __init__(self, n: int) -> None:
        self.n = n


def test_item_parts_are_memoised_within_a_byte_bound() -> None:
    memo: LiveMemo[_Parts] = LiveMemo(1_000_000)
    base = random_item(random.Random(1), 1)
    items = [replace(base, id=i, content_html=f"<p>{i}</p>" + "x" * 100_000) for i in range(30)]
    parts = [memo.get(item, partial(_make_parts, item)) for item in items]  # 3 MB of contents, all in use
    assert memo.bytes <= 1_000_000 and 0 < len(memo) < 10
    assert memo.get(items[-1], partial(_make_parts, items[-1])) is parts[-1]  # kept: the same parts object
    again = memo.get(items[0], partial(_make_parts, items[0]))
    assert again == parts[0] and again is not parts[0]  # made again, equal
