"""[hardening] 10: in-memory caches are bounded by bytes (what each new item or file leaves behind goes)."""

from __future__ import annotations

import os
import random
from dataclasses import replace
from pathlib import Path

from syndication.kernel.lru import ENTRY_OVERHEAD, ByteLRU
from syndication.kernel.settings import load_settings
from syndication.publish.feeds import FragmentCache, _PartsMemo
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


def test_item_digests_are_memoised_within_a_byte_bound_whatever_the_items_length() -> None:
    cache = FragmentCache(digest_bytes=1_000_000)
    long_items = [("x" * 100_000, i) for i in range(50)]  # 5 MB of items: a count of 1024 would hold them all
    digests = [cache.digest(item) for item in long_items]
    assert cache._digests_size <= 1_000_000 and 0 < len(cache._digests) < 10
    assert cache.digest(long_items[-1]) == digests[-1] and cache.digest(long_items[0]) == digests[0]
    assert len({*digests}) == 50


def test_item_parts_are_memoised_within_a_byte_bound() -> None:
    memo = _PartsMemo(1_000_000)
    base = random_item(random.Random(1), 1)
    items = [replace(base, id=i, content_html=f"<p>{i}</p>" + "x" * 100_000) for i in range(30)]
    parts = [memo.get(item) for item in items]  # 6 MB of bodies and contents: a count of 512 would hold them all
    assert memo._size <= 1_000_000 and 0 < len(memo._memo) < 10
    assert memo.get(items[-1]) is parts[-1]  # kept: the same parts object
    assert memo.get(items[0]) == parts[0] and memo.get(items[0]) is not parts[0]  # made again, equal
