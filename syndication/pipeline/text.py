"""Text hygiene shared by every stage: NFC, XML-legal characters, whitespace, plain text from HTML."""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Sequence

import nh3

# Characters XML 1.0 forbids (lxml refuses them): C0 controls but tab/LF/CR, lone surrogates,
# U+FFFE/U+FFFF. Removed on the way in so publishing can never break on them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_ONLY = nh3.Cleaner(tags=set())  # built once: nh3.clean converts its options on every call


# The characters above in ASCII: bytes.translate deletes them at a tenth of the regex's cost per character.
_ILLEGAL_ASCII = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


def xml_legal(text: str) -> str:
    # Nearly every text is legal already. An ASCII one is told so by C-speed byte operations (a tenth of the regex's
    # cost on a body); any other printable one holds no control, surrogate or noncharacter (half the regex's cost,
    # and `isprintable` stops at a body's first newline); the regex's scan is left for the rest.
    if text.isascii():
        encoded = text.encode("ascii")
        if len(encoded.translate(None, _ILLEGAL_ASCII)) == len(encoded):
            return text
    elif text.isprintable():
        return text
    return _XML_ILLEGAL.sub("", text)


# A character reference (as an HTML parser reads one: the ";" may be missing, the digits run as far as they go) to a
# character XML 1.0 forbids (`_XML_ILLEGAL`), NUL, or a number past U+10FFFF. A parser decodes it into that raw
# character, after xml_legal has looked, or into U+FFFD for NUL, a surrogate or too great a number: a replacement
# character standing where the partner's text had nothing printable. Matched by the digits' spelling, without a
# Python call per reference (most bodies hold references: "&#8217;"). Tested against every code point.
_FORBIDDEN_REFERENCE = re.compile(
    r"&#(?:[xX](?:0++|0*+(?:"
    r"[1-8bBcCeEfF]|1[0-9a-fA-F]"  # C0 controls but tab, LF, CR
    r"|[dD][89a-fA-F][0-9a-fA-F]{2}|[fF]{3}[eEfF]"  # surrogates, U+FFFE, U+FFFF
    r"|1[1-9a-fA-F][0-9a-fA-F]{4}|[2-9a-fA-F][0-9a-fA-F]{5}|[1-9a-fA-F][0-9a-fA-F]{6,}"  # past U+10FFFF
    r"))(?![0-9a-fA-F])"
    r"|(?:0++|0*+(?:"
    r"[1-8]|1[1-24-9]|2[0-9]|3[01]"
    r"|5529[6-9]|55[3-9][0-9]{2}|56[0-9]{3}|57[0-2][0-9]{2}|573[0-3][0-9]|5734[0-3]|6553[45]"
    r"|111411[2-9]|11141[2-9][0-9]|1114[2-9][0-9]{2}|111[5-9][0-9]{3}|11[2-9][0-9]{4}|1[2-9][0-9]{5}"
    r"|[2-9][0-9]{6}|[1-9][0-9]{7,}"
    r"))(?![0-9]));?"
)
# What such a reference is written as: one every parser decodes into U+0001, which xml_legal then removes, so the
# reference goes without a trace (dropping the reference itself could join its neighbours into a new one:
# "&&#1;amp;"), and html.unescape drops it outright.
_DROPPED_REFERENCE = "&#1;"


def mark_forbidden_references(fragment: str) -> str | None:
    """`fragment` (HTML, or text whose references are decoded) with each reference to a character XML forbids
    written `&#1;`, or None when it holds none (nor `&#1;` itself). Not None: what a parser makes of it needs
    xml_legal (clean_text does it)."""
    if "&#" not in fragment:
        return None
    marked, found = _FORBIDDEN_REFERENCE.subn(_DROPPED_REFERENCE, fragment)
    return marked if found else None


def clean_text(text: str | None) -> str:
    """NFC, XML-legal, single-spaced, trimmed."""
    if not text:
        return ""
    text = xml_legal(text)
    # str.split() splits at the characters `\s` matches (both are str.isspace): the same result as
    # `re.sub(r"\s+", " ", text).strip()` at a fifth of the cost on long text.
    return " ".join(unicodedata.normalize("NFC", text).split())


# A "&" that opens none of the five references an HTML serialiser writes (html5ever: "&amp;", "&nbsp;", "&lt;",
# "&gt;" in text, "&quot;" too in attributes).
_UNSERIALISED_REFERENCE = re.compile(r"&(?!(?:amp|nbsp|lt|gt|quot);)")


def unescape(text: str) -> str:
    """`html.unescape`, done by five `str.replace`s when every "&" opens one of the serialiser's references (the
    regex with a Python call per reference costs more on text dense with them: code, non-breaking spaces). "&amp;"
    goes last, so a reference spelt out in the text ("&amp;lt;") stays as written."""
    if "&" not in text:
        return text
    if _UNSERIALISED_REFERENCE.search(text):
        return html.unescape(text)
    return (text.replace("&nbsp;", "\xa0").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
            .replace("&amp;", "&"))


def plain_text(fragment: str | None) -> str:
    """HTML (or text that may carry tags and entities) -> plain text, entities decoded once."""
    if not fragment:
        return ""
    fragment = xml_legal(fragment)
    fragment = mark_forbidden_references(fragment) or fragment  # decoded into U+0001: clean_text removes it
    if "<" in fragment:
        # nh3 with no tags keeps the text and escapes it; unescape once to get plain text back.
        fragment = unescape(_TEXT_ONLY.clean(fragment))
    elif "&" in fragment:
        fragment = html.unescape(fragment)
    return clean_text(fragment)


# A start or end tag of an element whose handling by an HTML parser (WHATWG "in body") keeps its text where it stands
# and leaves the tokenizer in its data state, or a plain comment: no raw text (script, style, textarea, title,
# iframe...), no table (foster parenting), no form, select, template or foreign content; attributes quoted or plain.
# (<pre> drops a newline right after it: a newline the text before a cut at the next "<" holds or not, as the whole.)
_WS = "[ \t\n\f\r]"
_FLOW_TAG = re.compile(
    r"<!--[^<>-]++(?:-[^<>-]++)*+-->"
    r"|</?(?:a|abbr|address|article|aside|b|bdi|bdo|big|blockquote|br|center|cite|code|dd|del|dfn|div|dl|dt|em|"
    r"figcaption|figure|font|footer|h[1-6]|header|hr|i|img|ins|kbd|li|main|mark|nav|ol|p|picture|pre|q|s|samp|"
    r"section|small|source|span|strike|strong|sub|sup|time|tt|u|ul|var|wbr)"
    rf"""(?:{_WS}+[a-z_:][-a-z0-9_:.]*(?:{_WS}*={_WS}*(?:"[^"<]*"|'[^'<]*'|[^ \t\n\f\r"'=<>`]+))?)*{_WS}*/?>""",
    re.I | re.ASCII,
)


def plain_text_head(fragment: str | None, chars: int) -> str:
    """`plain_text(fragment)`, or a prefix of it longer than `chars` characters: for a caller that keeps no more
    (a summary cut to length), long HTML is read up to a tag past the first `4 * chars` characters, doubled until
    its text has a space after `chars` characters.

    Same text as the whole: the part before the cut holds only tags of `_FLOW_TAG` (else the whole is read), so
    the parser is in its data state at the cut and has put every character of text before it in document order,
    before any text after it; the escapes and NFC do not reach across a space (no canonical composition starts
    with one), so the cut's text before its last space is the whole's. Tested a prefix of `plain_text` on random
    markup and on the real feeds."""
    if not fragment or len(fragment) <= 8 * chars:
        return plain_text(fragment)
    fragment = xml_legal(fragment)
    cut = 4 * chars
    while cut <= len(fragment) // 2:
        cut = fragment.find("<", cut)
        if cut < 0:
            break
        head = fragment[:cut]
        if len(_FLOW_TAG.findall(head)) != head.count("<"):
            break
        text = plain_text(head)
        # A space followed by more text: what comes after the cut cannot change the text before it.
        space = text.rfind(" ", chars + 1)
        if space > chars:
            return text[:space]
        cut *= 2
    return plain_text(fragment)


# A tag as sanitize_html writes it (html5ever's serialisation of allowlisted elements): lower-case name, each
# attribute as ` name="value"` (the value may hold a raw "<" or ">"; a '"' is escaped), no "/>". Text between
# tags has every "<" escaped, so each "<" of such HTML opens one of these tags.
SERIALISED_TAG = re.compile(r'<(/?[a-z][a-z0-9]*+)(?: [a-z][a-z0-9_:.-]*+="[^"]*+")*+>')


@functools.lru_cache(maxsize=8)
def serialised_parts(html_text: str) -> tuple[str, ...]:
    """`SERIALISED_TAG.split(html_text)`: texts at even positions, tag names at odd ones. Kept for the last few
    bodies: sanitize_html's parse-back check splits each body it returns and the fingerprint splits the same body
    again (the string's hash, cached in it, makes a hit a dictionary lookup)."""
    return tuple(SERIALISED_TAG.split(html_text))


# The sanitiser's allowlist but iframes (raw text): a parser keeps their text where it stands, in document order,
# but for what a table holds directly (see `_tables_in_place`).
_TABLE_TAGS = frozenset({"table", "caption", "col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"})
_TEXT_TAGS = _TABLE_TAGS | {
    "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "cite", "code", "dd", "del", "details", "dfn", "div", "dl",
    "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "mark", "ol", "p", "picture", "pre", "q", "rp", "rt", "ruby", "s", "samp", "small", "source", "span", "strong",
    "sub", "summary", "sup", "time", "u", "ul", "var", "wbr",
}
_TEXT_TAG_NAMES = _TEXT_TAGS | {"/" + t for t in _TEXT_TAGS}
_VOID_TAGS = frozenset({"br", "col", "hr", "img", "source", "wbr"})
# Where a parser is "in table": only these elements may open there, and only whitespace stand there as text.
_TABLE_CONTEXT = frozenset({"table", "tbody", "thead", "tfoot", "tr", "colgroup"})
_TABLE_CHILDREN = frozenset({"caption", "col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"})


def sanitised_text(html_text: str, *, collapse: bool = True) -> str:
    """`plain_text` of sanitize_html's output, read off the string instead of parsing it again (a third of the
    cost): the text between the tags, entities decoded, with the one thing an HTML parser does to such text,
    the newline dropped after <pre>. Anything not in that form (an iframe, a "<" that opens no such tag, a table
    holding text or elements a parser would move) goes through `plain_text`; tested equal to it on sanitised
    HTML.

    `collapse=False` leaves runs of whitespace as they stand (the text is NFC and XML-legal all the same): for a
    caller that splits it into words anyway (the fingerprint), collapsing is a pass over the text for nothing."""
    if "<" not in html_text:
        return plain_text(html_text)
    parts = serialised_parts(html_text)
    names = parts[1::2]
    texts: Sequence[str] = parts[0::2]
    if (len(names) != html_text.count("<") or not _TEXT_TAG_NAMES.issuperset(names)
            or ("table" in names and not _tables_in_place(names, texts))):
        return plain_text(html_text)
    if "pre" in names:
        texts = list(texts)
        for i, name in enumerate(names):
            after = texts[i + 1]
            if name == "pre" and after[:1] in ("\n", "\r"):
                texts[i + 1] = after[2:] if after.startswith("\r\n") else after[1:]
    text = "".join(texts)
    text = unescape(text)
    return clean_text(text) if collapse else unicodedata.normalize("NFC", xml_legal(text))


def _tables_in_place(names: Sequence[str], texts: Sequence[str]) -> bool:
    """Whether no text or element stands directly in a table (outside its cells and caption): a parser moves
    those before the table ("foster parenting"), so reading the text in string order would differ."""
    stack: list[str] = []
    for i, name in enumerate(names):
        if name[0] == "/":
            if name[1:] not in stack:
                return False
            del stack[len(stack) - 1 - stack[::-1].index(name[1:]):]
        else:
            # Rows and cells open only in a table (elsewhere a parser ignores them, or closes the cell they are in).
            if bool(stack and stack[-1] in _TABLE_CONTEXT) != (name in _TABLE_CHILDREN):
                return False
            if name not in _VOID_TAGS:
                stack.append(name)
        if stack and stack[-1] in _TABLE_CONTEXT and texts[i + 1] and not texts[i + 1].isspace():
            return False
    return True
