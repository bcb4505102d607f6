"""The fast fingerprint paths equal their textbook definitions (stored SimHashes must not change)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from syndication.pipeline import dedupe, text

# Latin with accents, combining marks, Cyrillic, Hangul syllables, ligatures, full-width forms, ASCII.
_ALPHABET = st.one_of(
    st.characters(min_codepoint=32, max_codepoint=126),
    st.characters(min_codepoint=0xC0, max_codepoint=0x24F),
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),
    st.characters(min_codepoint=0x400, max_codepoint=0x4FF),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0xFB00, max_codepoint=0xFB06),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
)


@given(st.text(_ALPHABET, max_size=120))
@settings(max_examples=400)
def test_fold_equals_the_whole_string_definition(text: str) -> None:
    assert dedupe._fold(text) == dedupe._fold_reference(text)


@given(st.lists(st.text(_ALPHABET, min_size=1, max_size=8), max_size=120))
@settings(max_examples=200)
def test_simhash_equals_the_reference_loop(words: list[str]) -> None:
    assert dedupe.simhash(words) == dedupe.simhash_reference(words)


@given(st.lists(st.integers(min_value=0, max_value=(1 << 64) - 1), min_size=1, max_size=300))
@settings(max_examples=300)
def test_majority_counts_every_column_of_any_number_of_words(words: list[int]) -> None:
    laid = int.from_bytes(b"".join(w.to_bytes(8, "big") for w in words), "big")
    expected = sum(1 << b for b in range(64) if 2 * sum(w >> b & 1 for w in words) > len(words))
    assert dedupe._majority(laid, len(words)) == expected


def test_accents_and_case_do_not_change_the_title_key() -> None:
    assert dedupe.title_key("UPDATE: Café in Bakü opens") == dedupe.title_key("cafe in baku opens")


# HTML made of what partners send and what breaks parsers: tables with stray text and elements, <pre> with
# leading newlines, nested links and paragraphs, disallowed elements, entities, attributes holding "<" and ">".
_TAGS = ["p", "a", "b", "div", "pre", "table", "tbody", "tr", "td", "th", "caption", "colgroup", "col", "li", "ul",
         "img", "br", "span", "iframe", "object", "form", "script", "svg", "select", "textarea", "h2", "figure"]
_HTML_BITS = st.one_of(
    st.sampled_from([f"<{t}>" for t in _TAGS] + [f"</{t}>" for t in _TAGS]),
    st.sampled_from(['<a href="/x?a=1&amp;b=2" title="a<b>c">', '<img src="x.jpg" alt=">">', "<td colspan=2>",
                     "\n", "\r\n", " ", "&amp;", "&lt;", "&nbsp;", "&copy", "<!-- c -->", "<br/>", "<P>", "< p>",
                     "a < b", "Baku", "–", "e\u0301", "\x0b", "\t"]),
    st.text(_ALPHABET, max_size=6),
)


_CELL = st.lists(_HTML_BITS, max_size=4).map("".join)
_STRAY = st.sampled_from(["", "", " ", "\n", "x", "<p>y</p>", "<caption>c</caption>", "<tbody>", "</tr>"])
# Tables laid out as partners write them (rows of cells), with text or elements sometimes standing between rows.
_TABLE = st.lists(st.tuples(_STRAY, st.lists(_CELL, max_size=3)), max_size=3).map(
    lambda rows: "<table>" + "".join(f"{stray}<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
                                     for stray, cells in rows) + "</table>"
)


@given(st.lists(st.one_of(_HTML_BITS, _TABLE), max_size=40).map("".join))
@settings(max_examples=600, deadline=None)
def test_sanitised_text_equals_parsing_the_sanitised_html(raw: str) -> None:
    from syndication.pipeline.sanitize import sanitize_html  # lazy: kept beside the one test that needs it

    body = sanitize_html(raw, "https://example.org/", iframe_hosts=("example.org",))
    assert text.sanitised_text(body) == text.plain_text(body)


@given(st.text(st.one_of(_ALPHABET, st.sampled_from(["\x1c", "\x85", "\xa0", "\u2028", "\u3000", "\x0c", "\n"])),
               max_size=60))
@settings(max_examples=300)
def test_clean_text_equals_collapsing_whitespace_with_a_regex(raw: str) -> None:
    import re  # lazy: the reference definition only
    import unicodedata  # lazy: the reference definition only

    assert text.clean_text(raw) == re.sub(r"\s+", " ", unicodedata.normalize("NFC", text.xml_legal(raw))).strip()


@given(st.lists(st.one_of(_HTML_BITS, _TABLE, st.sampled_from(["\u3000", "\xa0", "\u2028", "’", "½", "ﬁ", "Ⅻ"])),
                max_size=60).map("".join))
@settings(max_examples=400, deadline=None)
def test_body_words_and_fingerprint_equal_their_definitions(raw: str) -> None:
    from syndication.pipeline.sanitize import sanitize_html  # lazy: kept beside the tests that need it

    body = sanitize_html(raw, "https://example.org/", iframe_hosts=("example.org",))
    words = dedupe._body_words_reference(body)
    assert dedupe.body_words(body) == words
    fp = dedupe.fingerprint(None, "t", body, datetime(2026, 1, 1, tzinfo=UTC))
    expected = (len(words), dedupe.body_hash(words), dedupe.simhash_reference(words))
    assert (fp.words, fp.body_hash, fp.simhash) == expected


def test_long_bodies_fingerprint_as_their_definitions() -> None:
    words = ("Zoë’s café—on the 3rd floor—sold 1½ crêpes; ПРИВЕТ мир! naïve_user #tag ﬁne ＡＢＣ 名前 " * 9).split()
    for n in (0, dedupe.MIN_BODY_WORDS - 1, dedupe.MIN_BODY_WORDS, 40, len(words)):
        body = "<p>" + " ".join(words[:n]) + "</p><p>&amp; <b>bold</b>\u3000end</p>"
        expected = dedupe._body_words_reference(body)
        fp = dedupe.fingerprint("https://x/1", "Title", body, datetime(2026, 1, 1, tzinfo=UTC))
        assert dedupe.body_words(body) == expected
        assert (fp.body_hash, fp.simhash) == (dedupe.body_hash(expected), dedupe.simhash_reference(expected))


def test_word_characters_are_what_the_regex_calls_words() -> None:
    """`_body_words_utf8` cuts words with str.isalnum (and "_") and splits on what str.split does: the sets `\\w`
    and `\\s` of the reference's `_NON_WORD`, for every character."""
    import re  # lazy: the reference definition only

    word, space = re.compile(r"\w"), re.compile(r"\s")
    for c in map(chr, range(0x110000)):
        assert (word.match(c) is not None) == (c.isalnum() or c == "_")
        assert (space.match(c) is not None) == c.isspace()


def test_whitespace_folds_to_a_separator() -> None:
    """Why `_body_words_utf8` need not collapse whitespace first: every whitespace character folds to something
    non-empty without a word character, so it separates words exactly as the single space it collapses to."""
    for c in map(chr, range(0x110000)):
        if c.isspace():
            folded = dedupe._fold(c)
            assert folded and not any(x.isalnum() or x == "_" for x in folded), hex(ord(c))


def test_a_folded_character_folds_to_itself() -> None:
    """Why `_fold` and `_body_words_utf8` may replace one distinct character after another: a character a
    replacement brings in is left as it is when its own turn comes."""
    fold_char = dedupe._fold_char.__wrapped__  # uncached: a million characters would only churn the cache
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        for ch in chr(code).casefold():
            if not ch.isascii():
                assert all(x.isascii() or fold_char(x) == x for x in fold_char(ch)), hex(code)


# Long markup for `plain_text_head`: runs of words, tags it reads through and tags that make it read the whole (raw
# text, tables, foreign content), comments, <pre> newlines, entities, whitespace of every kind, combining marks.
_FLOWING = st.one_of(
    st.sampled_from(["<p>", "</p>", "<b>", "</b>", "<a href=\"/x?a=1&amp;b=2\" title='a>b'>", "</a>", "<div>", "</div>",
                     "<li>", "<ul>", "</ul>", "<h2>", "</h2>", "<pre>", "<pre>\n", "</pre>", "<br/>", "<img alt=x>",
                     "<!--more-->", "<!---->", "<i>", "</i>", "<p\xa0class=x>", "<table><tr><td>", "</td></tr></table>",
                     "<script>", "</script>", "<style>x</style>", "<textarea>", "<svg>", "<math>", "<select>",
                     "<title>", "<template>", "<a <b>", "a < b", "<!x>", "<?x>", "</ x>", "<K>", "&amp;", "&lt;",
                     "&nbsp;", "&copy", "&#769;", "\u0301", "\u0308", "\u3000", "\xa0", "\r\n", "\n", "\t", " ", "  "]),
    st.text(_ALPHABET, max_size=12),
    st.lists(st.sampled_from(["lorem", "ipsum", "café", "Привет", "e\u0301"]), min_size=1, max_size=12).map(" ".join),
)


@given(st.lists(_FLOWING, min_size=20, max_size=120).map("".join), st.integers(min_value=1, max_value=40))
@settings(max_examples=500, deadline=None)
def test_plain_text_head_is_the_start_of_plain_text(raw: str, chars: int) -> None:
    head, whole = text.plain_text_head(raw, chars), text.plain_text(raw)
    assert whole.startswith(head)
    assert head == whole or len(head) > chars


def test_a_cut_text_stops_at_a_space_nothing_after_it_changes() -> None:
    """Why `plain_text_head` may keep the text up to a space: NFC composes no pair that starts with a space, so
    whatever follows the cut (a combining mark, say) cannot change the characters before that space."""
    import unicodedata  # lazy: the one test that reads the Unicode database

    for c in map(chr, range(0x110000)):
        parts = [p for p in unicodedata.decomposition(c).split() if not p.startswith("<")]
        if len(parts) == 2 and not unicodedata.decomposition(c).startswith("<"):
            assert not chr(int(parts[0], 16)).isspace(), hex(ord(c))


def test_a_long_summary_is_read_only_as_far_as_needed() -> None:
    raw = "".join(f"<p>{' '.join(f'w{i}' for i in range(p * 50, p * 50 + 50))}</p>" for p in range(40))
    head, whole = text.plain_text_head(raw, 600), text.plain_text(raw)
    assert 600 < len(head) < len(whole) // 2 and whole.startswith(head)
    assert text.plain_text_head("<table>" + raw, 600) == text.plain_text("<table>" + raw)  # a table: read it all


_XML_EDGES = st.sampled_from(
    ["\x00", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1f", " ", "\x7f", "\x85", "\ud800", "\udfff", "\ufffd",
     "\ufffe", "\uffff", "\U00010000", "\U0010ffff", "\uefbf", "é"]
)


@given(st.text(st.one_of(_ALPHABET, _XML_EDGES), max_size=40))
@settings(max_examples=500, deadline=None)
def test_xml_legal_equals_the_regex_definition(raw: str) -> None:
    # Checked through the bytes first (text.xml_legal): the same characters must go as the regex removes.
    assert text.xml_legal(raw) == text._XML_ILLEGAL.sub("", raw)


@given(st.lists(st.one_of(_ALPHABET, st.sampled_from(
    ["&", "&amp;", "&lt;", "&gt;", "&nbsp;", "&quot;", "&amp;lt;", "&amp;amp;", "&lt", "&nbsp", "&#38;", "&#x3c;",
     "&eacute;", "&notit;", ";", "amp;", "nbsp;"])), max_size=30).map("".join))
@settings(max_examples=500, deadline=None)
def test_unescape_equals_the_standard_library(raw: str) -> None:
    import html  # lazy: the reference definition only

    assert text.unescape(raw) == html.unescape(raw)
