"""[publish] Entry fragments spliced from the cache give exactly the bytes of a whole-tree rendering.

The publisher renders with ENTRY_CACHE; the reference is the same renderer without a cache (every entry
built in one lxml tree / one json.dumps). Any difference, one byte of whitespace or one namespace
declaration, would change every feed's ETag and break "same data, same bytes".
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from syndication.db.models import Notice
from syndication.kernel.settings import load_settings
from syndication.publish.feeds import (
    Extras,
    FeedContext,
    FragmentCache,
    Paging,
    Tombstone,
    indented_json,
    json_fragment,
    json_with_items,
    render_atom,
    render_json,
    render_rss,
)
from syndication.publish.notices import render_notices_atom, render_notices_json
from syndication.publish.published import ChannelSpec, PartnerInfo, PublishedItem, item_uid
from tests.feedcheck import assert_valid_atom, assert_valid_json_feed

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RENDERERS = (render_atom, render_rss, render_json)
WORDS = ["Baku", "Bakı", "naïve", "Ünal", "«quoted»", "a & b", "<tag>", "x > y", "“smart”", "日本", "emoji 📰",
         "line\nbreak", "tab\there", "\u2028sep", "'apos'", '"dq"', "]]>", "plain"]


def partner(rng: random.Random, n: int) -> PartnerInfo:
    pick = rng.random
    return PartnerInfo(
        id=f"p{n}", name=f"Partner {rng.choice(WORDS)}", homepage=f"https://p{n}.example/" if pick() < 0.7 else None,
        feed_url=f"https://p{n}.example/feed?a=1&b=2" if pick() < 0.6 else None, credit=f"Credit {rng.choice(WORDS)}",
        license_url="https://creativecommons.org/licenses/by/4.0/" if pick() < 0.5 else None,
        usage_terms=rng.choice([None, "Republish with credit.", "Terms & <conditions>"]),
        copyright=rng.choice([None, "© {year} Agency", "Copyright {year} «Ünal»"]),
        updated=T0 + timedelta(minutes=rng.randint(0, 500)) if pick() < 0.8 else None,
    )


def random_item(rng: random.Random, i: int) -> PublishedItem:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
    imgs = "".join(f'<img src="https://img.example/{i}-{k}.jpg" alt="{rng.choice(["Alt", "Ünal"])}">'
                   for k in range(rng.randint(0, 2)))
    credits: list[dict[str, Any]] = [
        {"credit": rng.choice(["Photo Person", "Фото"]), "caption": rng.choice([None, "Caption & more"]),
         "url": rng.choice([None, f"https://img.example/{i}-0.jpg", f"https://img.example/other-{i}.png"])}
        for _ in range(rng.randint(0, 2))]
    attribution: dict[str, Any] = {"credit": rng.choice([None, "Turan news agency", "AZ & co"]),
                                   "image_credits": credits}
    if rng.random() < 0.4:
        attribution.update(license_url="https://example.org/licence", rights="© 2026 «Rights»",
                           original_agency="Turan", dateline_place="Baku", usage_terms="Credit us.")
    carriers = tuple({"partner_id": f"p{k}", "partner_name": f"Partner {k}", "credit": f"Credit {k}",
                      "url": f"https://p{k}.example/{i}", "id": item_uid(f"p{k}", str(i))}
                     for k in range(rng.choice([0, 0, 2, 3])))
    published = T0 + timedelta(hours=rng.randint(0, 100), seconds=rng.randint(0, 59))
    return PublishedItem(
        id=i, uid=item_uid("p", f"k{i}"), partner=partner(rng, rng.randint(0, 3)),
        url=rng.choice([None, f"https://p.example/news/{i}?x=1&y=2"]), title=f"Story {i}: {words}",
        content_html=rng.choice(["", f"<p>{words.replace('<', '&lt;').replace('&', '&amp;')}</p>{imgs}",
                                 f"<p>Body {i}</p>\n<p>second</p>{imgs}"]),
        summary=rng.choice([None, f"Summary {words}"]),
        authors=tuple(rng.choice(WORDS) for _ in range(rng.randint(0, 2))),
        categories=tuple(rng.choice(["politics", "économie", "a&b"]) for _ in range(rng.randint(0, 3))),
        language=rng.choice([None, "en", "az-Latn"]), published=published,
        updated=published + timedelta(minutes=rng.randint(0, 90)), attribution=attribution,
        version=rng.randint(1, 3), carriers=carriers,
    )


SPECS = [
    ChannelSpec("all", "Syndication", "Every partner's news, credited.", 10),
    ChannelSpec("politics", "Politika «ü»", "", 10, categories=("politics",), language="az"),
]
CONTEXTS = [FeedContext("http://news.example", 15, "https://hub.example/"), FeedContext("http://127.0.0.1:8000/")]
STONE = Tombstone(item_uid("p", "gone"), T0 + timedelta(days=1), "withdrawn: «legal»", "http://news.example/items/9")
EXTRAS = [
    Extras(),
    Extras(Paging(prev_archive=3)),
    Extras(Paging(archive_page=2, prev_archive=1, next_archive=3)),
    Extras(Paging(archive_page=1, next_archive=2)),
    Extras(Paging(prev_archive=4), (STONE,)),
    Extras(Paging(), (STONE, Tombstone(item_uid("p", "x"), T0, None, None))),
]


@pytest.mark.parametrize("seed", range(6))
def test_cached_rendering_is_byte_identical(seed: int) -> None:
    rng = random.Random(seed)
    cache = FragmentCache()
    pool = [random_item(rng, i) for i in range(40)]
    for spec in SPECS:
        for ctx in CONTEXTS:
            for extras in EXTRAS:
                items = rng.sample(pool, rng.choice([0, 1, 2, 7, 15]))
                for render in RENDERERS:
                    expected = render(spec, items, ctx, extras)
                    assert render(spec, items, ctx, extras, cache) == expected  # cold
                    assert render(spec, items, ctx, extras, cache) == expected  # every entry from the cache
    assert cache.hits > 0 and cache.misses > 0


def test_cached_feeds_validate_and_follow_item_changes() -> None:
    rng = random.Random(99)
    cache = FragmentCache()
    items = [random_item(rng, i) for i in range(8)]
    ctx, spec = CONTEXTS[0], SPECS[0]
    assert_valid_atom(render_atom(spec, items, ctx, Extras(Paging(prev_archive=1), (STONE,)), cache), "current")
    assert_valid_atom(render_atom(spec, items, ctx, Extras(Paging(archive_page=1)), cache), "archive")
    assert_valid_json_feed(render_json(spec, items, ctx, cache=cache))
    # The key is the entry's content, not its id and version: a change with the same version is re-rendered.
    from dataclasses import replace

    changed = [replace(items[0], title="Corrected title"), *items[1:]]
    for render in RENDERERS:
        out = render(spec, changed, ctx, cache=cache)
        assert out == render(spec, changed, ctx)
        assert b"Corrected title" in out


def test_cache_stays_within_its_byte_bound() -> None:
    rng = random.Random(5)
    cache = FragmentCache(max_bytes=20_000)
    items = [random_item(rng, i) for i in range(60)]
    for render in RENDERERS:
        assert render(SPECS[0], items, CONTEXTS[0], cache=cache) == render(SPECS[0], items, CONTEXTS[0])
    assert 0 < sum(len(v) for v in cache._entries.values()) <= 20_000


def test_json_splice_matches_json_dumps() -> None:
    import json

    doc: dict[str, object] = {"version": "v", "title": "t «ü»", "empty": [], "nested": {"a": [1, {"b": None}]}}
    items: list[dict[str, object]] = [{"id": "1", "x": [], "y": {}, "z": "a\nb"}, {"id": "2", "deep": [[1, 2], []]}]
    for chosen in ([], items[:1], items):
        expected = (json.dumps({**doc, "items": chosen}, ensure_ascii=False, indent=2) + "\n").encode()
        assert json_with_items(doc, [json_fragment(it, 2) for it in chosen]) == expected


def notice(i: int, rng: random.Random) -> Notice:
    kind = rng.choice(["republished", "updated", "corrected", "withdrawn", "rights_changed"])
    with_item = kind != "rights_changed"
    return Notice(
        id=i, uid=f"urn:uuid:00000000-0000-4000-8000-{i:012d}", event_id=i, kind=kind,
        created_at=T0 + timedelta(minutes=i), partner_id="turan",
        item_id=i if with_item else None, partner_item_id=f"guid-{i}" if with_item else None,
        partner_item_url=rng.choice([None, f"https://turan.az/{i}?a=1&b=2"]) if with_item else None,
        item_uid=item_uid("turan", str(i)) if with_item else None,
        item_version=rng.randint(1, 3) if with_item else None,
        item_url=f"http://news.example/items/{i}" if with_item else None, title=f"Title {rng.choice(WORDS)}",
        channels=rng.choice([[], ["all"], ["all", "partners/turan"]]),
        attribution={"credit": "Turan", "license_url": rng.choice([None, "https://cc.example/by"]),
                     "license_name": None, "usage_terms": "Credit us.", "rights": rng.choice([None, "© {year} T"])},
        reason=rng.choice([None, "Name fixed", "Legal «request»"]),
        action={"republished": "none", "withdrawn": "remove"}.get(kind, "update"),
    )


def test_cached_notices_feeds_are_byte_identical() -> None:
    rng = random.Random(3)
    settings = load_settings(None, public_url="http://news.example")
    notices = [notice(i, rng) for i in range(1, 30)]
    cache = FragmentCache()
    for chosen in ([], notices[:1], notices):
        for render in (render_notices_atom, render_notices_json):
            expected = render("turan", "Notices for «Turan»", chosen, settings)
            assert render("turan", "Notices for «Turan»", chosen, settings, cache) == expected
            assert render("turan", "Notices for «Turan»", chosen, settings, cache) == expected
    assert cache.hits > 0


# Every JSON value a feed could hold, and the ones orjson and json write differently or orjson refuses
# (floats, ints beyond 64 bits, keys that are not strings): indented_json must equal json.dumps on all.
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(WORDS)
_LEAVES = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63, max_value=2**70)
           | st.floats(allow_nan=False) | _TEXT)
_JSON = st.recursive(_LEAVES, lambda kids: st.lists(kids, max_size=4) | st.tuples(kids, kids)
                     | st.dictionaries(_TEXT, kids, max_size=4)
                     | st.dictionaries(st.integers(-3, 3), kids, max_size=2), max_leaves=20)


@hypothesis_settings(max_examples=400, deadline=None)
@given(_JSON)
def test_indented_json_is_json_dumps(value: object) -> None:
    import json

    assert indented_json(value) == json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")


def test_json_feed_entries_of_random_items_are_json_dumps() -> None:
    import json

    from syndication.publish.feeds import _json_item

    rng = random.Random(11)
    for i in range(60):
        entry = _json_item(random_item(rng, i), CONTEXTS[i % 2])
        assert json_fragment(entry, 2) == ("    " + json.dumps(entry, ensure_ascii=False, indent=2)
                                           .replace("\n", "\n    ")).encode("utf-8")


@pytest.mark.parametrize("where", ["attribution", "credit", "carriers", "authors", "categories", "version", "none"])
def test_entries_of_items_with_floats_are_json_dumps(where: str) -> None:
    """An entry is written without a look through it for floats when its item holds none (feeds.item_floats): a
    float anywhere in the item's values, nested in its JSON fields too, must still reach json's way of writing
    it (1e+16, not orjson's 1e16), in JSON Feed and ninjs entries alike."""
    import json
    from dataclasses import replace

    from syndication.publish.feeds import _json_item, item_floats, json_item_bytes
    from syndication.publish.ninjs import _entry_bytes, ninjs_item

    item = random_item(random.Random(5), 1)
    big = 1e16
    photo = {"credit": "C", "url": None, "width": big}
    carrier = {"partner_id": "p1", "partner_name": "P", "credit": "C", "url": None, "rank": big}
    item = {
        "attribution": replace(item, attribution={**item.attribution, "score": big}),
        "credit": replace(item, attribution={**item.attribution, "image_credits": [photo]}),
        "carriers": replace(item, carriers=(carrier,)),
        "authors": replace(item, authors=(big,)),  # type: ignore[arg-type]
        "categories": replace(item, categories=("a", big)),  # type: ignore[arg-type]
        "version": replace(item, version=big),  # type: ignore[arg-type]
        "none": item,
    }[where]
    assert item_floats(item) is (where != "none")
    ctx = CONTEXTS[0]
    for entry, written in ((_json_item(item, ctx), json_item_bytes(item, ctx)),
                           (ninjs_item(item, ctx), _entry_bytes(item, ctx))):
        assert written == ("    " + json.dumps(entry, ensure_ascii=False, indent=2)
                           .replace("\n", "\n    ")).encode("utf-8")


def test_an_items_footer_and_images_are_made_once_for_all_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    """The three formats of an entry share one footer and one scan of the body for images (an HTML parse):
    an item rendered in every format, cached or not, costs one of each; a changed item gets its own."""
    from dataclasses import replace

    import syndication.publish.feeds as feeds

    calls: list[int] = []
    real = feeds._content_with_footer
    monkeypatch.setattr(feeds, "_content_with_footer", lambda item: calls.append(item.id) or real(item))
    rng = random.Random(21)
    items = [random_item(rng, i) for i in range(5)]
    for render in RENDERERS:
        uncached = render(SPECS[0], items, CONTEXTS[0])
        assert render(SPECS[0], items, CONTEXTS[0], cache=FragmentCache()) == uncached
    assert sorted(calls) == [it.id for it in items]
    changed = replace(items[0], content_html=items[0].content_html + "<p>more</p>")
    assert b"more" in render_atom(SPECS[0], [changed], CONTEXTS[0])
    assert calls.count(items[0].id) == 2


def test_an_item_digest_follows_every_field_of_the_item_and_of_its_partner() -> None:
    from dataclasses import replace

    rng = random.Random(11)
    item = random_item(rng, 1)
    digest = FragmentCache().digest
    assert digest(item) == digest(replace(item))  # equal content, another object: the same key
    changed = [replace(item, title=item.title + "!"), replace(item, carriers=({"partner_id": "x"},)),
               replace(item, attribution={**item.attribution, "credit": "Other"}),
               replace(item, partner=replace(item.partner, credit=item.partner.credit + " Ltd")),
               replace(item, partner=replace(item.partner, updated=T0 + timedelta(days=1)))]
    assert len({digest(item), *(digest(c) for c in changed)}) == 1 + len(changed)
