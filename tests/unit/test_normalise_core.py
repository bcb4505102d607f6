"""The normalise core: sanitising, text, dates, language, identity, status, policy/footer, fingerprints."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import lxml.html
import pytest

from syndication.kernel.domain import NormalisedItem, ParsedEntry, ParsedFeed, PartnerPolicy, Rejection
from syndication.kernel.settings import ConfigError, load_settings
from syndication.pipeline.dedupe import (
    Fingerprint,
    body_words,
    duplicate_reason,
    fingerprint,
    from_signed,
    hamming,
    simhash,
    title_key,
    to_signed,
)
from syndication.pipeline.normalise import assign_keys, entry_status, normalise_entry, normalise_feed
from syndication.pipeline.policy import (
    DEFAULT_ATTRIBUTION_TEMPLATE,
    build_policy,
    check_template,
    render_footer,
    rights_line,
    same_org,
)
from syndication.pipeline.sanitize import clean_url, sanitize_html
from syndication.pipeline.text import mark_forbidden_references, plain_text, plain_text_head

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = PartnerPolicy(
    id="turan", name="Turan News Agency", credit="Turan news agency",
    license_url="https://creativecommons.org/licenses/by-nd/4.0/", usage_terms="Unedited, with credit.",
    copyright="© {year} {credit}", language="en",
)


def entry(**over: object) -> ParsedEntry:
    base: dict[str, object] = {
        "guid": "g1", "link": "https://turan.az/news/1", "title": "Title", "content_html": "<p>Body text.</p>",
        "summary_html": None, "published": NOW - timedelta(hours=1),
    }
    base.update(over)
    return ParsedEntry(**base)  # type: ignore[arg-type]


def norm(e: ParsedEntry, policy: PartnerPolicy = POLICY, **kw: object) -> NormalisedItem:
    out = normalise_entry(e, "k", policy, now=NOW, **kw)  # type: ignore[arg-type]
    assert isinstance(out, NormalisedItem), out
    return out


# ------------------------------------------------------------------------------------------ sanitising


def test_hostile_markup_removed_and_links_hardened() -> None:
    html = (
        '<p onclick="x()">Hi <script>alert(1)</script><style>p{}</style><a href="javascript:alert(1)">j</a>'
        '<a href="/news/2?utm_source=rss&amp;id=7&amp;fbclid=abc">rel</a><form><input></form>'
        '<img src="x.jpg" onerror="y()"><iframe src="https://www.youtube.com/embed/1"></iframe></p>'
    )
    out = sanitize_html(html, "https://turan.az/a/b")
    for bad in ("script", "style", "onclick", "onerror", "javascript", "form", "input", "iframe", "utm_", "fbclid"):
        assert bad not in out
    assert '<a href="https://turan.az/news/2?id=7" rel="noopener noreferrer">rel</a>' in out
    assert 'src="https://turan.az/a/x.jpg"' in out


def test_iframes_only_from_allowed_hosts() -> None:
    html = '<iframe src="https://www.youtube.com/embed/1" onload="x()"></iframe><iframe src="https://evil.example/">e</iframe>'
    out = sanitize_html(html, iframe_hosts=("youtube.com",))
    assert out == '<iframe src="https://www.youtube.com/embed/1"></iframe>'
    assert sanitize_html('<iframe src="http://notyoutube.com/x"></iframe>', iframe_hosts=("youtube.com",)) == ""


def test_data_urls_only_for_small_safe_images() -> None:
    png = (
        "data:image/png;base64,"
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    assert f'src="{png}"' in sanitize_html(f'<img src="{png}">')
    assert "data:" not in sanitize_html('<img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">')
    assert "data:" not in sanitize_html('<img src="data:image/png;base64,' + "A" * 20000 + '">')
    assert "data:" not in sanitize_html('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>')


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("/news/1", "https://turan.az/feed", "https://turan.az/news/1"),
        ("news/1", "https://ex.org/dir/", "https://ex.org/dir/news/1"),
        ("https://a.example/x?utm_campaign=c&gclid=1&q=2", None, "https://a.example/x?q=2"),
        ("ftp://a.example/x", None, None),
        ("mailto:a@b.c", None, None),
        ("//cdn.example/x.jpg", "https://turan.az/", "https://cdn.example/x.jpg"),
        ("", None, None),
    ],
)
def test_clean_url(url: str, base: str | None, expected: str | None) -> None:
    assert clean_url(url, base) == expected


def test_relative_urls_resolved_against_xml_base_then_feed_link_then_document() -> None:
    body = '<p><a href="rel">r</a></p>'
    e = entry(content_html=body, link=None, guid="g")
    assert 'href="https://base.example/dir/rel"' in norm(replace(e, base_url="https://base.example/dir/")).content_html
    assert 'href="https://feed.example/rel"' in norm(e, feed_link="https://feed.example/").content_html
    assert 'href="https://doc.example/rel"' in norm(e, document_url="https://doc.example/feed.xml").content_html


# ------------------------------------------------------------------------------------------ text


def test_text_hygiene() -> None:
    item = norm(entry(title="Cafe\u0301 &amp;amp; <b>bar</b>\x00\x0b  ok", content_html="<p>A\x01B &amp; C\ufffe</p>"))
    assert item.title == "Café &amp; bar ok"  # NFC, tags gone, entities decoded exactly once
    assert item.content_html == "<p>AB &amp; C</p>"
    assert plain_text("Tom &amp; Jerry") == "Tom & Jerry"


def test_references_to_characters_xml_forbids_are_dropped_not_replaced() -> None:
    # The colleague's case: sanitising decoded them into the raw characters, after the raw ones were removed.
    assert sanitize_html("a&#1;b&#xfffe;c") == "abc"
    # A surrogate, NUL or a number past U+10FFFF: parsers write U+FFFD; the partner's text had nothing there.
    refs = "B&#xD800;a&#0;k&#x110000;u&#27 &#65535;x&#x0001b;y"
    assert sanitize_html(f'<p title="{refs}">{refs}</p>') == '<p title="Baku xy">Baku xy</p>'
    assert plain_text(refs) == plain_text(f"<b>{refs}</b>") == "Baku xy"
    assert plain_text_head(f"<p>{refs}</p> " * 100, 5).startswith("Baku xy Baku")
    # Legal ones stay, however written; a reference spelt out in the text stays text.
    assert sanitize_html("x&#9;&#x20;&#xD7FF;&#xE000;&#xFFFD;&#x10000;&#1114111;&#x80;&amp;#1;") == (
        "x\t \ud7ff\ue000\ufffd\U00010000\U0010ffff€&amp;#1;")
    # Dropping a reference joins no neighbours into a new one: "&" "\x01" "amp;" is the text "&amp;".
    assert plain_text("&&#1;amp;") == "&amp;"
    assert sanitize_html("&&#1;amp;") == "&amp;amp;"
    # Through the partner's furniture selectors too (lxml decodes references before sanitising).
    item = norm(entry(content_html=f'<p>{refs}</p><div class="related">Related</div>'),
                replace(POLICY, furniture_selectors=("div.related",)))
    assert item.content_html == "<p>Baku xy</p>"
    item = norm(entry(title=f"<b>{refs}</b>", summary_html=refs, content_html=f"<p>{refs} and more</p>"))
    assert (item.title, item.summary, item.content_html) == ("Baku xy", "Baku xy", "<p>Baku xy and more</p>")


def test_forbidden_references_are_those_of_xml_1_0s_char_production() -> None:
    def forbidden(code: int) -> bool:  # XML 1.0 (5th ed.) 2.2: Char, NUL and beyond Unicode included
        return not (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
                    or 0x10000 <= code <= 0x10FFFF)
    # Every code point of the BMP and around U+10FFFF, a sample of the rest, two numbers far past the end.
    codes = (*range(0x1_0100), *range(0x1_0100, 0x10_FF00, 97), *range(0x10_FF00, 0x11_0100), 0x10_0000_0000, 10**12)
    for code in codes:
        expected = forbidden(code)
        for ref in (f"&#{code};", f"&#x{code:X}", f"&#00{code}z"):
            assert (mark_forbidden_references(f"a{ref}z") is not None) == expected, ref
    assert mark_forbidden_references("&#13a &#x9g; &#xD7FF; &#x; &#; &amp;#1; &#x10FFFF") is None
    assert mark_forbidden_references("&#x1;&#11&#x0;") == "&#1;&#1;&#1;"


# ------------------------------------------------------------------------------------------ dates


def test_dates() -> None:
    plus4 = timezone(timedelta(hours=4))
    item = norm(entry(published=datetime(2026, 11, 26, 18, 20, tzinfo=plus4)))
    assert item.published == datetime(2026, 11, 26, 14, 20, tzinfo=UTC) and item.published.tzinfo == UTC
    missing = norm(entry(published=None))
    assert missing.published == NOW and "date_missing" in missing.flags
    future = norm(entry(published=NOW + timedelta(days=3)))
    assert future.published == NOW and "future_date_clamped" in future.flags
    near_future = norm(entry(published=NOW + timedelta(hours=5)))
    assert near_future.published == NOW + timedelta(hours=5) and not near_future.flags
    backwards = norm(entry(published=NOW - timedelta(hours=1), updated=NOW - timedelta(hours=5)))
    assert backwards.updated == backwards.published
    naive = norm(entry(published=datetime(2026, 11, 1, 10, 0)))
    assert naive.published == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------------ language


def test_language_entry_then_feed_then_partner() -> None:
    assert norm(entry(language="ru")).language == "ru"
    assert norm(entry(), feed_language="az_latn").language == "az-Latn"
    assert norm(entry()).language == "en"
    assert norm(entry(language="not a language!")).language == "en"  # unusable: the next source decides
    assert norm(entry(language="x y"), replace(POLICY, language=None)).language is None


# ------------------------------------------------------------------------------------------ identity


def _keys(entries: list[ParsedEntry]) -> list[tuple[str | None, str | None]]:
    return assign_keys(entries, "https://turan.az/")


def test_identity_guid() -> None:
    keys = _keys([entry(guid="a", link="https://x/1"), entry(guid="b", link="https://x/2")])
    assert all(k and k.startswith("g:") for k, _ in keys) and keys[0][0] != keys[1][0]


@pytest.mark.parametrize("guid", [None, "", "   "])
def test_identity_missing_or_empty_guid_falls_back_to_link(guid: str | None) -> None:
    [(key, _)] = _keys([entry(guid=guid, link="https://turan.az/news/9?utm_source=x")])
    [(same, _)] = _keys([entry(guid=guid, link="https://turan.az/news/9")])
    assert key is not None and key.startswith("l:") and key == same  # canonical link: tracking stripped


def test_identity_guid_shared_by_all_entries() -> None:
    keys = _keys([entry(guid="same", link=f"https://x/{i}") for i in range(3)])
    assert [k[:2] for k, _ in keys if k] == ["l:", "l:", "l:"] and len({k for k, _ in keys}) == 3


def test_identity_non_unique_guid_for_different_items() -> None:
    keys = _keys([entry(guid="dup", link="https://x/1"), entry(guid="dup", link="https://x/2"), entry(guid="u")])
    assert all(k for k, _ in keys) and len({k for k, _ in keys}) == 3


def test_identity_repeated_entry_is_rejected_once() -> None:
    keys = _keys([entry(guid="dup", link="https://x/1"), entry(guid="dup", link="https://x/1")])
    assert keys[0][0] and keys[1] == (None, "duplicate of entry 1 in the same document")


def test_identity_title_and_date_when_no_guid_or_link() -> None:
    keys = _keys([entry(guid=None, link=None, title="A"), entry(guid=None, link=None, title="B")])
    assert all(k and k.startswith("t:") for k, _ in keys) and keys[0][0] != keys[1][0]
    assert _keys([entry(guid=None, link=None, title=None, published=None)])[0][0] is None


def test_stable_key_across_polls() -> None:
    feed = ParsedFeed("t", "https://turan.az/", "en", (entry(guid=None),), "rss")
    a, _ = normalise_feed(feed, POLICY, now=NOW)
    b, _ = normalise_feed(feed, POLICY, now=NOW + timedelta(hours=3))
    assert a[0].key == b[0].key and a[0].content_hash == b[0].content_hash


# ------------------------------------------------------------------------------------------ status


@pytest.mark.parametrize(
    ("status", "title", "cats", "expected"),
    [
        (None, "Plain", (), "usable"),
        ("corrected", "Plain", (), "corrected"),
        (None, "CORRECTION: Budget figure", (), "corrected"),
        (None, "Update: talks resume", (), "corrected"),
        (None, "Plain", ("Politics", "Correction"), "corrected"),
        ("withdrawn", "Plain", (), "withdrawn"),
        ("canceled", "Plain", (), "withdrawn"),
        ("Cancelled", "Plain", (), "withdrawn"),
        (None, "WITHDRAWN: Story", (), "withdrawn"),
        ("usable", "Plain", (), "usable"),
    ],
)
def test_entry_status(status: str | None, title: str, cats: tuple[str, ...], expected: str) -> None:
    assert entry_status(status, title, cats) == expected


# ------------------------------------------------------------------------------------------ policy


def test_attribution_fields_from_body_entry_and_policy() -> None:
    body = (
        "<p>By Leyla Aliyeva</p><p>BAKU, 24 November – Story.</p><p>More.</p>"
        "<p>source: commonspace.eu with Trend news agency, Baku.</p>"
        "<p>photo: Ferry (picture courtesy of contact.az)</p><p>Photo: Aerial view of the port of Alat at dawn</p>"
    )
    policy = replace(POLICY, default_image_credit="Turan photo service")
    item = norm(entry(content_html=body, authors=("Ramil Guliyev", "desk@turan.az")), policy)
    a = item.attribution
    assert a.credit == "Turan news agency" and a.partner_id == "turan" and a.partner_name == "Turan News Agency"
    assert a.rights == "© 2026 Turan news agency" and a.license_name == "CC BY-ND 4.0"
    assert a.authors == ("Ramil Guliyev", "Leyla Aliyeva")  # emails kept out
    assert (a.distributing_source, a.original_agency) == ("commonspace.eu", "Trend news agency")
    assert a.dateline_place == "Baku"
    assert [(c.credit, c.caption) for c in a.image_credits] == [
        ("contact.az", "Ferry"), ("Turan photo service", "Aerial view of the port of Alat at dawn")
    ]
    assert a.original_url == a.canonical_url == "https://turan.az/news/1"
    assert "original_agency:body-source-line" in a.extracted_from and "authors:body-byline" in a.extracted_from
    assert len(a.extracted) == 4 and "source:" not in item.content_html


def test_no_derivatives_keeps_body_verbatim_apart_from_sanitising_and_furniture() -> None:
    body = "<p>By X Y</p><p>Text.</p><p>Source: Turan news agency, Baku.</p><h3>Related articles</h3><p>z</p>"
    item = norm(entry(content_html=body), replace(POLICY, no_derivatives=True))
    assert item.content_html == "<p>By X Y</p><p>Text.</p><p>Source: Turan news agency, Baku.</p>"
    assert item.attribution.distributing_source == "Turan news agency" and item.attribution.no_derivatives


def test_policy_embargo_delay_and_default_image_credit() -> None:
    item = norm(entry(content_html='<p>x</p><img src="https://turan.az/a.jpg">'),
                replace(POLICY, embargo_delay=3600, default_image_credit="Turan"))
    assert item.embargo_until == item.published + timedelta(hours=1) and "embargo_from_policy" in item.flags
    assert [c.credit for c in item.attribution.image_credits] == ["Turan"]
    explicit = norm(entry(embargo_until=NOW + timedelta(days=1)), replace(POLICY, embargo_delay=60))
    assert explicit.embargo_until == NOW + timedelta(days=1)


def test_default_footer() -> None:
    item = norm(entry(content_html="<p>x</p><p>source: commonspace.eu with APA, Baku.</p>"))
    footer = render_footer(_attr(item))
    assert footer == (
        '<p class="syndication-attribution">Originally published by Turan news agency, reporting by APA at '
        '<a href="https://turan.az/news/1">https://turan.az/news/1</a>. '
        '<a href="https://creativecommons.org/licenses/by-nd/4.0/" rel="license">CC BY-ND 4.0</a>. '
        "Distributed by commonspace.eu. Usage terms: Unedited, with credit.</p>"  # [newcomer] point 8
    )
    own = render_footer({**_attr(item), "original_agency": "TURAN Information Agency",
                         "distributing_source": "Turan News Agency"})
    assert "reporting by" not in own and "Distributed by" not in own  # the partner itself is not credited twice


def test_footer_template_pixel_carriers_and_escaping() -> None:
    item = norm(entry())
    a = {**_attr(item), "attribution_template": "Via {credit} — {usage_terms} {license_name}",
         "tracking_pixel_url": "https://px.example/t.gif?id=1&x=2", "credit": "A & B <co>"}
    carriers = [{"partner_id": "turan", "credit": "Turan"},
                {"partner_id": "commonspace", "credit": "commonspace.eu", "url": "https://commonspace.eu/n/1"}]
    footer = render_footer(a, carriers=carriers)
    assert "Via A &amp; B &lt;co&gt; — Unedited, with credit." in footer
    assert 'Also carried by <a href="https://commonspace.eu/n/1">commonspace.eu</a>.' in footer
    assert '<img src="https://px.example/t.gif?id=1&amp;x=2" width="1" height="1" alt=""' in footer
    parts = lxml.html.fragments_fromstring(footer)
    assert [p.tag for p in parts] == ["p", "img"]
    no_url = render_footer({**_attr(item), "original_url": None})
    assert "href=\"\"" not in no_url and "Originally published by Turan news agency." in no_url


def _attr(item: NormalisedItem) -> dict[str, object]:
    from syndication.pipeline.ingest import attribution_json

    return attribution_json(item)


def test_templates_validated_in_config() -> None:
    assert check_template(DEFAULT_ATTRIBUTION_TEMPLATE)
    with pytest.raises(ValueError, match="unknown field 'nope'"):
        check_template("{nope}")
    base = {"id": "p", "name": "P", "sources": []}
    for bad, message in (
        ({"attribution_template": "{credit"}, "attribution_template"),
        ({"furniture_selectors": ["div[["]}, "invalid CSS selector"),
        ({"furniture_patterns": ["(unclosed"]}, "invalid pattern"),
        ({"tracking_pixel_url": "javascript:x"}, "tracking_pixel_url"),
    ):
        with pytest.raises(ConfigError, match=message):
            load_settings(None, partners=[{**base, **bad}])
    ok = load_settings(None, partners=[{**base, "furniture_selectors": ["div.related"], "embargo_delay": 600,
                                         "allowed_iframe_hosts": ["YouTube.com"]}])
    row = SimpleNamespace(id="p", name="P", credit="P", homepage=None, license_url=None, usage_terms=None,
                          copyright=None, language=None)
    policy = build_policy(row, ok.partners[0])
    assert policy.furniture_selectors == ("div.related",) and policy.embargo_delay == 600
    assert policy.allowed_iframe_hosts == ("youtube.com",)


def test_rights_and_org_matching() -> None:
    assert rights_line("© {year} {credit}", "Turan", 2026) == "© 2026 Turan"
    assert rights_line("© {yr}", "Turan", 2026) == "© {yr}"
    assert rights_line(None, "Turan", 2026) is None
    assert same_org("Turan", "Turan news agency") and same_org("commonspace.eu", "Commonspace")
    assert not same_org("Trend news agency", "Turan news agency") and not same_org(None, "x")


# ------------------------------------------------------------------------------------------ fingerprints


LONG = " ".join(f"word{i}" for i in range(80))


def test_fingerprints() -> None:
    assert title_key("UPDATE: Azerbaijan & Kazakhstan — agree!") == "azerbaijan kazakhstan agree"
    assert simhash(body_words("<p>too short</p>")) is None
    h = simhash(LONG.split())
    assert h is not None and from_signed(to_signed(h)) == h and -(2**63) <= (to_signed(h) or 0) < 2**63
    edited = LONG.replace("word40", "changed").split()
    assert hamming(h, simhash(edited) or 0) < 16


def _fp(title: str, body: str, hours: float = 0, url: str | None = None) -> Fingerprint:
    return fingerprint(url, title, body, NOW + timedelta(hours=hours))


def test_duplicate_decisions() -> None:
    a = _fp("Ferry fleet to expand on the Caspian", LONG, url="https://a/1")
    assert duplicate_reason(a, _fp("Other", "<p>x</p>", url="https://a/1")) == "url"
    assert duplicate_reason(a, _fp("Different title entirely here", f"<p>{LONG}</p>")) == "body"
    reworded = LONG.replace("word10 ", "").replace("word50", "fifty").replace("word70", "seventy")
    assert duplicate_reason(a, _fp("Ferry fleet to expand on the Caspian", reworded)) == "title+simhash"
    assert duplicate_reason(a, _fp("Ferry fleet to expand on the Caspian", reworded, hours=100)) is None
    unrelated = " ".join(f"other{i}" for i in range(80))
    assert duplicate_reason(a, _fp("Ferry fleet to expand on the Caspian", unrelated)) is None
    assert duplicate_reason(a, _fp("Budget passes", unrelated)) is None


def test_rejection_when_nothing_to_publish() -> None:
    out = normalise_entry(entry(title=None, content_html=None), "k", POLICY, now=NOW)
    assert isinstance(out, Rejection)


def test_stored_attribution_and_fingerprint_equal_their_definitions() -> None:
    """The fast paths of storing: attribution_json equals dataclasses.asdict after the JSON round trip,
    and the fingerprint computed in normalise equals the one computed from the stored columns."""
    import json
    from dataclasses import asdict

    from syndication.kernel.domain import Attribution, ImageCredit
    from syndication.pipeline.ingest import attribution_json

    policy = POLICY
    body = "<p>BAKU, 3 March – " + " ".join(f"word{i}" for i in range(40)) + "</p><p>Photo: Jane Roe / AP</p>"
    entry = ParsedEntry(guid="g1", link="https://p.example/a", title="A title", content_html=body,
                        summary_html=None, authors=("Ann",), categories=("news",),
                        published=datetime(2026, 3, 3, 9, tzinfo=UTC))
    item = normalise_entry(entry, "k", policy, now=datetime(2026, 3, 3, 10, tzinfo=UTC))
    assert isinstance(item, NormalisedItem) and item.fingerprinted
    credited = replace(item, attribution=replace(item.attribution, image_credits=(
        ImageCredit("AP", "caption", "https://p.example/i.jpg"), ImageCredit("Jane Roe"))))
    for it in (item, credited):
        reference = asdict(it.attribution)
        assert json.loads(json.dumps(attribution_json(it))) == json.loads(json.dumps(reference))
    assert set(attribution_json(item)) == {f for f in Attribution.__dataclass_fields__}
    fp = fingerprint(item.url, item.title, item.content_html, item.published)
    assert (item.title_key, item.body_hash, item.simhash) == (fp.title_key, fp.body_hash, fp.simhash)
    assert item.simhash is not None
