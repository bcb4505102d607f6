"""The fast path of `extract`: bodies read off the string must give what the full way (lxml) gives.

`_fast_verdict` may only answer "nothing here" for a body the full way leaves untouched with nothing found,
and "empty tail" for one where it only drops the empty blocks closing it; `_fast_lines` must read the very
lines `_Reader` reads in lxml's tree, or refuse the body.
"""

from __future__ import annotations

import lxml.html
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syndication.pipeline.attribute import (
    _ASCII_SPACE_AND_CONTROLS,
    DEFAULT_RULES,
    EMPTY_TAIL,
    HEADING_MAX_CHARS,
    NOTHING,
    Extraction,
    FurnitureRules,
    _extract_tree,
    _fast_lines,
    _fast_verdict,
    _fragment,
    _Reader,
    _too_long_for_heading,
    extract,
    remove_furniture,
)
from syndication.pipeline.text import clean_text

STORY = "<p>The pipeline was signed in Baku on Tuesday after years of talks between the two governments.</p>"


def _full(html: str, remove: bool = True) -> Extraction:
    return _extract_tree(html, FurnitureRules(), remove=remove)


def _lxml_lines(html: str) -> list[tuple[str, str, bool]] | None:
    """`_Reader`'s lines in lxml's tree (None: the body holds furniture)."""
    root = _fragment(html)
    texts: dict[lxml.html.HtmlElement, str] = {}
    if remove_furniture(root, FurnitureRules(), texts):  # type: ignore[arg-type]
        return None
    return [(line.raw, line.context, line.near_picture) for line in _Reader(texts).body(root)]  # type: ignore[arg-type]


def _check(html: str) -> bool:
    """The fast path agrees with the full way on `html`; True when it read the body off the string."""
    read = _fast_lines(html)
    if read is not None:
        assert [(line.raw, line.context, line.near_picture) for line in read[1]] == _lxml_lines(html), html
    for remove in (True, False):
        verdict = _fast_verdict(html, DEFAULT_RULES, defaults=True, remove=remove)
        if verdict == NOTHING:
            assert _full(html, remove) == Extraction(html=html), html
        if verdict == EMPTY_TAIL:
            full = _full(html, remove)
            assert full.html != html and full == Extraction(html=full.html), html
        assert extract(html, remove=remove) == _full(html, remove), html
    return read is not None


# ------------------------------------------------------------------------------------------ what must not be skipped


@pytest.mark.parametrize(
    "html",
    [
        # a closing credit line, alone or after a <br> in the last paragraph, or in a plain-text body
        STORY + "<p>Source: Turan news agency, Baku.</p>",
        STORY + "<p>The talks went on.<br>Source: Turan news agency, Baku.</p>",
        "The pipeline was signed in Baku on Tuesday.\nSource: Turan news agency, Baku.",
        STORY + "<div><p>More text.</p><p><em>— Trend News Agency</em></p></div>",
        STORY + "<p>(Reporting by Nailia Bagirova; Editing by Mark Heinrich)</p>",
        # a byline and a dateline opening the story
        "<p>By <b>Jane Doe</b></p>" + STORY,
        "<p>BAKU, 4 February (Reuters) – The pipeline was signed on Tuesday after years of talks.</p>" + STORY,
        "<div><div><p>BAKU, 4 February (Reuters) – The pipeline was signed on Tuesday.</p></div></div>",
        # photo credits: a caption, a short line by a picture, a short line that says so
        '<figure><img src="http://x.example/a.jpg"><figcaption>Workers at the terminal. Photo: contact.az'
        "</figcaption></figure>" + STORY,
        STORY + '<p><img src="http://x.example/a.jpg"></p><p>Rally in Tbilisi (AP Photo/Name)</p>' + STORY,
        STORY + "<p>Photo: Reuters</p>" + STORY,
        # furniture: a heading split by inline tags, with spaces and entities around, a list's first item
        STORY + "<h3> <b>Related</b>&nbsp;<i>articles</i>: </h3><ul><li>Other</li></ul>",
        STORY + "<ul><li>Most read</li><li>Other</li></ul>",
        STORY + "<div><p>Read also</p><p>Other</p></div>",
        STORY + "<h3>Read also<br></h3><p>Other</p>",
        # an empty block closing the body goes
        STORY + "<p> &nbsp; </p>",
        STORY + "<hr>",
        STORY + "<p><br></p>",
        STORY + "<div><p></p></div>",
    ],
)
def test_a_body_with_something_to_extract_is_not_skipped(html: str) -> None:
    assert _fast_verdict(html, DEFAULT_RULES, defaults=True, remove=True) != NOTHING
    assert extract(html) != Extraction(html=html)
    _check(html)


@pytest.mark.parametrize("tail", ["<p> &nbsp; </p>", "<hr>", "<p><br></p>", "<div><p></p></div><br>", "<ul></ul>"])
def test_a_body_closed_by_empty_blocks_loses_them_only(tail: str) -> None:
    html = STORY + "<h2>Background</h2>" + STORY + tail
    assert _fast_verdict(html, DEFAULT_RULES, defaults=True, remove=True) == EMPTY_TAIL
    assert _fast_verdict(html, DEFAULT_RULES, defaults=True, remove=False) == NOTHING
    assert extract(html) == Extraction(html=STORY + "<h2>Background</h2>" + STORY)
    assert extract(html, remove=False) == Extraction(html=html)
    _check(html)


@pytest.mark.parametrize(
    "html",
    [
        STORY,
        STORY + "<h2>Background</h2>" + STORY + "<ul><li>one</li><li>two<br>three</li></ul>" + STORY,
        "<div>" + STORY + "<blockquote><p>Quoted.</p></blockquote></div>" + STORY,
        STORY + "<pre><code><span>fn</span> main() {}</code></pre>" + STORY,
        STORY + '<figure><img src="http://x.example/a.jpg"></figure>' + STORY,
        "Plain text, one line.\nAnother line, &amp; an entity.",
        STORY + "<dl><dt>Term</dt><dd><p>Definition</p></dd></dl>" + STORY,
        STORY + '<a href="http://x.example/"><div><p>Read the report</p></div><figure><img src="a.jpg"></figure></a>'
        + STORY + "<ul><li>one</li><ul><li>two</li></ul></ul>" + STORY,
        STORY + "<table><caption>Oil</caption><colgroup><col></colgroup><thead><tr><th>Year</th></tr></thead>"
        "<tbody>\n<tr><td><p>2026</p><p>Source: AFP</p></td></tr></tbody></table>" + STORY,
    ],
)
def test_a_plain_body_is_read_off_the_string(html: str) -> None:
    assert _fast_lines(html) is not None
    assert _fast_verdict(html, DEFAULT_RULES, defaults=True, remove=True) == NOTHING
    assert extract(html) == Extraction(html=html)
    _check(html)


@pytest.mark.parametrize(
    "html",
    [
        STORY + "<table>Source: AFP<tr><td>1</td></tr></table>",  # a parser moves text a table holds
        STORY + "<table><tr><p>Source: AFP</p></tr></table>",  # and blocks out of its cells
        STORY + "<td>Source: AFP</td>",  # a cell outside a table
        "<p>One<div>Two</div></p>",  # a block in a paragraph: lxml closes the paragraph
        "<p><a href='x'>One <a href='y'>Two</a></a></p>",  # an anchor in an anchor: lxml closes the first
        "<a href='x'><div><p>One <a href='y'>Two</a></p></div></a>",
        "<a href='x'><table><tr><td>One</td></tr></table></a>",  # lxml takes a table out of an anchor
        "<b><p>One</p></b>",  # and a paragraph out of bold type
        "<p>One<wbr>Two</p>",  # lxml does not know <wbr> is empty
        "<p>One<br/>Two</p>",  # not as the sanitiser writes it
        "<p>Editor&#39;s choice</p>",  # an entity the sanitiser does not write
        "<p>One\r\nTwo</p>",  # lxml rewrites a carriage return
        '<p title="a<b">One</p>',  # a "<" in an attribute
        "<p>One</b>Two</p>",  # an end tag with no start
        "<ul>One<li>Two</li></ul>",  # text in a list
        "<section><p>One</p></section>",  # outside the shapes read off the string
        "<div>" * 300 + "<p>Source: AFP</p>" + "</div>" * 300 + STORY,  # lxml gives up nesting 255 levels deep
        "<p>" + "<span>" * 300 + "Source: AFP" + "</span>" * 300 + "</p>",
    ],
)
def test_other_shapes_go_the_full_way(html: str) -> None:
    assert _fast_lines(html) is None
    assert _fast_verdict(html, DEFAULT_RULES, defaults=True, remove=True) is None
    _check(html)


# ------------------------------------------------------------------------------------------ random bodies

_WORDS = st.sampled_from([
    "Related articles", "Read also:", "Most read", "Editor's choice", "Popular", "Tags", "By Jane Doe",
    "Source: Turan news agency, Baku.", "— Trend", "(Reuters)", "Photo: Reuters", "REUTERS/Aziz Karimov",
    "(AP Photo/Vahid Salemi)", "BAKU, 4 February –", "YEREVAN, December 3. /ARKA/.", "Trend reports",
    "The pipeline was signed on Tuesday after years of talks.", "word", "x" * 70, " ", "  ", "\n", "\t",
    "&amp;", "&nbsp;", "&lt;", "&gt;", "&quot;", "é", "e\u0301", "İ", "\u2028", "\xa0", "Ünïcödé text",
    "Associated Press writer Jane Doe contributed.", "With AFP", "via Kun.uz",
])
_INLINE_TAGS = st.sampled_from(["a", "b", "span", "em", "strong", "code", "q", "small", "i", "wbr", "font"])
_BLOCK_TAGS = st.sampled_from(
    ["p", "h2", "h3", "div", "blockquote", "pre", "figcaption", "figure", "li", "dd", "dt", "section", "td", "a", "ul",
     "b"])


def _inline() -> st.SearchStrategy[str]:
    leaf = st.one_of(_WORDS, st.just("<br>"), st.just('<img src="http://x.example/a.jpg">'))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4).map("".join),
            st.tuples(_INLINE_TAGS, st.lists(inner, max_size=3).map("".join)).map(
                lambda t: f"<{t[0]}>{t[1]}</{t[0]}>" if t[0] != "wbr" else f"<wbr>{t[1]}"),
        ),
        max_leaves=8,
    )


def _block() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        _inline(), st.just("<hr>"),
        st.tuples(st.sampled_from(["p", "h2", "h4", "pre", "dt", "figcaption"]), _inline()).map(
            lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"),
        st.lists(_inline(), min_size=1, max_size=3).map(lambda items: "<ul>" + "".join(
            f"<li>{item}</li>" for item in items) + "</ul>"),
        st.just('<picture><source srcset="http://x.example/a.webp"><img src="http://x.example/a.jpg"></picture>'),
        st.tuples(_inline(), _inline()).map(
            lambda t: f"<table><caption>{t[0]}</caption><tbody><tr><td>{t[1]}</td><th></th></tr></tbody></table>"),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=1, max_size=4).map("".join),
            st.tuples(_BLOCK_TAGS, st.lists(inner, max_size=3).map("".join)).map(
                lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"),
            st.lists(inner, min_size=1, max_size=3).map(lambda items: "<ol>" + "".join(
                f"<li>{item}</li>" for item in items) + "</ol>"),
            st.lists(inner, min_size=1, max_size=3).map(lambda items: "<table><tr>" + "".join(
                f"<td>{item}</td>" for item in items) + "</tr></table>"),
        ),
        max_leaves=12,
    )


@given(_block())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bodies_read_off_the_string_equal_lxml(html: str) -> None:
    if html.strip():
        _check(html)


def test_random_bodies_are_mostly_read_off_the_string() -> None:
    """The differential test above means something only if the fast path takes many of its bodies: the same
    strategy's bodies (derandomised), at least a fifth of them read off the string (about two fifths are)."""
    bodies: list[str] = []

    @given(_block())
    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    def collect(html: str) -> None:
        if html.strip():
            bodies.append(html)

    collect()
    taken = sum(_check(html) for html in bodies)
    assert len(bodies) >= 200 and taken >= len(bodies) // 5, (taken, len(bodies))
    for html in (STORY * 3, STORY + "<p>By Jane Doe</p>", "<div>" + STORY + "</div><ul><li>a</li></ul>"):
        assert _check(html)


@given(st.text(st.one_of(st.characters(codec=None), st.sampled_from(
    [" ", "\n", "\t", "\x01", "\x0b", "\x7f", "e", "A", "\u0301", "\u0323", "\u1100", "\u1161", "\u11a8", "\u2028",
     "\xa0", "\ufffe", "o", "Z", "."])), min_size=200, max_size=900))
@settings(max_examples=500)
def test_printable_ascii_characters_bound_the_cleaned_length(raw: str) -> None:
    """What lets the furniture check skip cleaning a long paragraph: each printable ASCII character stays in the
    cleaned text or opens a composed character there."""
    if len(raw.encode("ascii", "ignore").translate(None, _ASCII_SPACE_AND_CONTROLS)) > HEADING_MAX_CHARS:
        assert len(clean_text(raw)) > HEADING_MAX_CHARS
    if _too_long_for_heading(raw):
        assert len(clean_text(raw)) > HEADING_MAX_CHARS
