"""Turn credit lines into data and strip page furniture. Pure functions over sanitised HTML.

What a news desk reads at the end of agency copy (``source: commonspace.eu with Turan news agency,
Baku.``, ``photo: … (picture courtesy of contact.az)``), at the start (``BAKU, 4 February –``,
``By Jane Doe``) and the page furniture that follows the story ("Related articles", "Popular", …)
becomes structured data here. Patterns tolerate case, punctuation, missing parts and a few languages
(English, Russian, Azerbaijani, Turkish, French, German, Spanish, Ukrainian).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import lxml.html
from lxml import etree
from lxml.cssselect import CSSSelector

from syndication.kernel.domain import ImageCredit
from syndication.pipeline.credits import (
    KINDS,
    Credit,
    CreditRules,
    credit_rules,
    match_credit_line,
    match_inline,
    match_photo,
    photo_hint,
)
from syndication.pipeline.credits import match_byline as match_byline_credits
from syndication.pipeline.credits import match_dateline as match_dateline_credits
from syndication.pipeline.text import clean_text, serialised_parts, unescape

DEFAULT_RULES = credit_rules()

# ------------------------------------------------------------------------------------------ furniture

FURNITURE_HEADINGS = re.compile(
    r"^\s*(?:"
    r"related(?: articles?| news| stories| posts| content| links)?|editor'?s'? (?:choice|picks?)"
    r"|popular(?: news| now| stories| articles)?|most (?:read|popular|viewed|shared)|trending(?: now)?"
    r"|read (?:also|more|next)|also read|see also|more (?:news|stories|articles)|recommended(?: stories| for you)?"
    r"|you (?:may|might) also like|latest (?:news|stories)|top stories|more (?:on|from) .{2,40}"
    r"|share (?:this|this article)|follow us.*|subscribe.*|tags?|in this section|other news"
    # Russian / Ukrainian
    r"|читайте (?:также|еще|ещё)|по теме|новости по теме|похожие (?:новости|материалы)|популярное"
    r"|самое (?:читаемое|популярное)|выбор редакции|другие новости|читайте також|схожі новини"
    # Azerbaijani / Turkish
    r"|oxşar xəbərlər|digər xəbərlər|bu mövzuda|redaktorun seçimi|populyar|ən çox oxunanlar"
    r"|ilgili haberler|benzer haberler|en çok okunanlar|editörün seçimi"
    # French / German / Spanish
    r"|(?:à|a) lire aussi|lire aussi|sur le même sujet|articles? similaires|les plus lus"
    r"|mehr zum thema|das könnte sie auch interessieren|meistgelesen"
    r"|noticias relacionadas|te puede interesar|lo más leído"
    r")\s*[:.…]?\s*$",
    re.I,
)
HEADING_MAX_CHARS = 60
_BOXES = ("ul", "ol", "div", "section", "aside", "nav")  # their first child may be the heading
BLOCK_TAGS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "figure", "section", "table", "dl",
    "pre", "aside", "footer", "header", "nav", "figcaption",
}

# ------------------------------------------------------------------------------------------ credit lines


@dataclass(frozen=True, slots=True)
class FurnitureRules:
    """Per-partner page-furniture rules on top of the default headings, and the partner's credit rules."""

    selectors: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    defaults: bool = True
    credits: CreditRules | None = None


@dataclass(frozen=True, slots=True)
class Extraction:
    html: str
    distributing_source: str | None = None
    original_agency: str | None = None
    source_place: str | None = None
    dateline_place: str | None = None
    dateline_date: str | None = None
    dateline_agency: str | None = None
    image_credits: tuple[ImageCredit, ...] = ()
    bylines: tuple[str, ...] = ()
    lines: tuple[str, ...] = field(default=())
    furniture_removed: int = 0
    # Which kinds of line were found, in document order ("byline", "dateline", "source", "photo").
    found: tuple[str, ...] = ()
    # Every credit read, in document order, each with the line and offsets it came from.
    credits: tuple[Credit, ...] = ()


# ------------------------------------------------------------------------------------------ one line


@dataclass(frozen=True, slots=True)
class SourceLine:
    distributing_source: str | None
    original_agency: str | None
    place: str | None


def match_source_line(text: str, rules: CreditRules | None = None) -> SourceLine | None:
    found = match_credit_line(text, rules or DEFAULT_RULES)
    if not found or not any(c.rule == "credit_line:source" for c in found):
        return None
    return SourceLine(_first(found, "source"), _first(found, "agency"), _first(found, "place"))


def match_photo_line(text: str, rules: CreditRules | None = None) -> ImageCredit | None:
    found = match_photo(text, rules or DEFAULT_RULES, caption=False)
    if not found:
        return None
    c = found[0]
    return ImageCredit(credit=c.value, caption=c.caption)


def match_byline(text: str, rules: CreditRules | None = None) -> tuple[str, ...] | None:
    found = match_byline_credits(text, rules or DEFAULT_RULES)
    names = tuple(c.value for c in found or () if c.kind == "byline")
    return names or None


@dataclass(frozen=True, slots=True)
class Dateline:
    place: str
    date: str | None
    agency: str | None


def match_dateline(text: str, rules: CreditRules | None = None) -> Dateline | None:
    found = match_dateline_credits(text, rules or DEFAULT_RULES)
    place = _first(found or [], "place")
    if not found or place is None:
        return None
    return Dateline(place=place, date=_first(found, "date"), agency=_first(found, "agency"))


def _first(credits: Sequence[Credit], kind: str) -> str | None:
    return next((c.value for c in credits if c.kind == kind), None)


# ------------------------------------------------------------------------------------------ lines of a body

# Blocks whose text is never a credit line: code, tables (a chart's "Source:"), quotes, lists.
_OPAQUE = {"pre", "code", "table", "blockquote", "ul", "ol", "dl", "script", "style", "kbd", "samp", "q"}
_PICTURES = {"img", "picture", "video", "svg", "iframe"}
LINE_MAX_CHARS = 300
_KEPT_EMPTY = {"img", "picture", "figure", "video", "iframe", "svg", "audio", "object", "embed"}
LINE_READ_CHARS = 600
PHOTO_LINE_CHARS = 250
PHOTO_HEAD_CHARS = 40


_BREAK = "\u2028"  # stands for a <br> while a block's text is read (LINE SEPARATOR: not in copy)
_CONTAINER_CHILDREN = BLOCK_TAGS | _OPAQUE | _PICTURES


class _Line:
    """One line of the body. Its text is cleaned on first use: most long paragraphs are never read."""

    __slots__ = ("raw", "top", "context", "near_picture", "_text")

    def __init__(self, raw: str, top: etree._Element | None, context: str, near_picture: bool) -> None:
        self.raw = raw
        self.top = top  # the top-level block it belongs to (None: text at the top level)
        self.context = context  # "text" | "caption" | "opaque"
        self.near_picture = near_picture
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            # Only a long line's start is ever read (a lead's dateline, the agency's words in it).
            raw = self.raw if len(self.raw) <= LINE_READ_CHARS else self.raw[:LINE_READ_CHARS]
            self._text = clean_text(raw)
        return self._text

    def short(self, limit: int) -> bool:
        """Whether the cleaned text may be at most `limit` characters (cheap: the raw text bounds it)."""
        return len(self.raw) <= limit * 2 and len(self.text) <= limit

    def may_credit_photo(self) -> bool:
        """A short line with a photo word: the only lines outside captions tried for photo credits. Away from a
        picture the photo rules read a line's start ("Photo: AFP", "(Photo by …)", "REUTERS/Name"), so only its
        start needs the word; by a picture a credit may close the caption, so the whole line is looked at."""
        if len(self.raw) > PHOTO_LINE_CHARS * 2:
            return False
        head = self.raw if self.near_picture else self.raw.lstrip()[:PHOTO_HEAD_CHARS]
        return photo_hint(head) and len(self.text) <= PHOTO_LINE_CHARS


class _Reader:
    """Splits a body into lines: a block's text, split at <br> (and, in a plain-text body, at newlines);
    figcaptions are caption lines; opaque blocks are one empty line that stops the credit zones."""

    def __init__(self, texts: dict[etree._Element, str] | None = None) -> None:
        self.lines: list[_Line] = []
        self.picture = False
        self.texts = texts or {}  # top-level blocks' text already read (furniture), keyed by element
        self.pictures = True  # whether the body has any <img> at all (most have none: no search per block)

    def body(self, root: lxml.html.HtmlElement) -> list[_Line]:
        self.pictures = root.find(".//img") is not None
        breaks = root.xpath(".//br")
        for br in breaks:  # a block with a <br> is read again, with the breaks marked
            self.texts.pop(_top_level(root, br), None)  # type: ignore[arg-type]
        saved = [br.tail for br in breaks]
        for br in breaks:
            br.tail = _BREAK + (br.tail or "")
        try:
            plain = not any(isinstance(c.tag, str) and c.tag in BLOCK_TAGS for c in root)
            self._container(root, None, "text", top_level=True, plain=plain)
        finally:
            for br, tail in zip(breaks, saved, strict=True):
                br.tail = tail
        return self.lines

    def _emit(self, raw: str, top: etree._Element | None, context: str, plain: bool = False) -> None:
        if plain:
            raw = raw.replace("\n", _BREAK)
        for piece in raw.split(_BREAK) if _BREAK in raw else (raw,):
            if piece and not piece.isspace():
                self.lines.append(_Line(piece, top, context, self.picture))
                self.picture = False

    def _container(self, el: etree._Element, top: etree._Element | None, context: str, *,
                   top_level: bool = False, plain: bool = False) -> None:
        parts: list[str] = [el.text or ""]
        for child in el:
            tag = child.tag
            if not isinstance(tag, str):
                parts.append(child.tail or "")
                continue
            child_top = child if top_level else top
            if tag in _OPAQUE:
                self._emit("".join(parts), top, context, plain)
                parts = []
                if child.text_content().strip():  # an empty table or list stops nothing
                    self.lines.append(_Line("", child_top, "opaque", False))
            elif tag in _PICTURES:
                self._emit("".join(parts), top, context, plain)
                parts = []
                self.picture = True
            elif tag in BLOCK_TAGS:
                self._emit("".join(parts), top, context, plain)
                parts = []
                inner = "caption" if tag == "figcaption" else context
                if tag != "p" and any(isinstance(c.tag, str) and c.tag in _CONTAINER_CHILDREN for c in child):
                    self._container(child, child_top, inner)
                else:
                    if self.pictures and tag == "p" and len(child) and child.find(".//img") is not None:
                        self.picture = True
                    known = self.texts.get(child) if top_level else None
                    self._emit(known if known is not None else child.text_content(), child_top, inner)
            else:
                if self.pictures and len(child) and child.find(".//img") is not None:
                    self.picture = True
                parts.append(child.text_content())
            if child.tail:
                parts.append(child.tail)
        self._emit("".join(parts), top, context, plain)


# ------------------------------------------------------------------------------------------ extraction

LEAD_LINES = 2  # lines of the lead tried for a dateline
TRAILING_LINES = 8  # credit lines read from the end at most


def read_credits(lines: Sequence[_Line], rules: CreditRules) -> tuple[list[Credit], set[int], set[int]]:
    """Every credit of the lines, with the indexes of the leading and trailing lines that are credit lines."""
    found: dict[int, list[Credit]] = {}
    leading: set[int] = set()
    trailing: set[int] = set()
    # Credit lines closing the story, read from the end while they match.
    for idx in range(len(lines) - 1, -1, -1):
        line = lines[idx]
        if line.context == "caption":
            continue
        if line.context == "opaque" or not line.short(LINE_MAX_CHARS) or len(trailing) >= TRAILING_LINES:
            break
        got = match_credit_line(line.text, rules)
        if got is None:
            got = match_byline_credits(line.text, rules)
        if got is None and line.may_credit_photo():
            got = match_photo(line.text, rules, caption=line.near_picture)
        if got is None:
            break
        found[idx] = got
        trailing.add(idx)
    # Bylines above the story, then the dateline and the agency's own words in the lead.
    lead_tried = 0
    for idx, line in enumerate(lines):
        if idx in trailing or lead_tried >= LEAD_LINES:
            break
        if line.context == "caption":
            continue
        if line.context == "opaque":
            break
        if line.short(160) and (names := match_byline_credits(line.text, rules)) is not None:
            found[idx] = names
            leading.add(idx)
            continue
        photo = (
            match_photo(line.text, rules, caption=line.near_picture)
            if line.may_credit_photo() else None
        )
        if photo is not None:
            found[idx] = photo
            continue
        lead_tried += 1
        dateline = match_dateline_credits(line.text, rules)
        inline = match_inline(line.text[:400], rules)
        if dateline or inline:
            found[idx] = [*(dateline or ()), *inline]
            break
    # Photo credits anywhere else: captions, and short lines that say so.
    for idx, line in enumerate(lines):
        if idx in found or line.context == "opaque":
            continue
        caption = line.context == "caption"
        if (caption or line.may_credit_photo()) and (
            got := match_photo(line.text, rules, caption=caption or line.near_picture)
        ):
            found[idx] = got
    credits = [c for idx in sorted(found) for c in found[idx]]
    return credits, leading, trailing


def extract(html: str, rules: FurnitureRules | None = None, *, remove: bool = True) -> Extraction:
    """Find furniture, credit lines, byline and dateline in sanitised HTML; return what is left.

    With ``remove=False`` (a partner that forbids derivatives) the credit lines and byline are read but
    stay in the body; furniture is removed either way.
    """
    rules = rules or FurnitureRules()
    if not html.strip():
        return Extraction(html="")
    verdict = None if rules.selectors or rules.patterns else _fast_verdict(
        html, rules.credits or DEFAULT_RULES, defaults=rules.defaults, remove=remove)
    if verdict == NOTHING:
        return Extraction(html=html)
    if verdict == EMPTY_TAIL:
        # Nothing to read: the empty blocks closing the body go, the rest is as the full way leaves it.
        try:
            root = _fragment(html)
        except (etree.ParserError, ValueError):
            return Extraction(html=html)
        return Extraction(html=_serialise(root) if _drop_empty_tail(root) else html)
    return _extract_tree(html, rules, remove=remove)


def _extract_tree(html: str, rules: FurnitureRules, *, remove: bool) -> Extraction:
    """`extract` the full way: parse the body, read every line, cut what was found, serialise what is left."""
    credit_rules = rules.credits or DEFAULT_RULES
    try:
        root = _fragment(html)
    except (etree.ParserError, ValueError):
        return Extraction(html=html)
    texts: dict[etree._Element, str] = {}
    removed = remove_furniture(root, rules, texts)
    lines = _Reader(texts).body(root)
    credits, leading, trailing = read_credits(lines, credit_rules)

    changed = False
    zone = leading | trailing
    taken = zone
    if remove:
        # A block goes when every line of it is a credit line of the leading or trailing zone; a credit line
        # that shares its block (after a <br>) or stands in a plain-text body is cut out of the text.
        blocks: dict[int, tuple[etree._Element, bool, bool]] = {}
        for idx, line in enumerate(lines if zone else ()):  # no credit line, no block to take (most bodies)
            if line.top is None:
                continue
            el, ok, credit = blocks.get(id(line.top), (line.top, True, False))
            blocks[id(line.top)] = (el, ok and (idx in zone or line.context == "caption"), credit or idx in zone)
        whole = {key for key, (_, ok, credit) in blocks.items() if ok and credit}
        taken = set()
        for idx in sorted(zone):
            line = lines[idx]
            if line.top is not None and id(line.top) in whole:
                taken.add(idx)
            elif _cut(line.top if line.top is not None else root, line.raw, line.top is None, idx in trailing):
                taken.add(idx)
                changed = True
        for block in whole:
            el = blocks[block][0]
            if el.getparent() is not None:
                _drop(el)
                changed = True
        changed = _drop_empty_tail(root) or changed
    unique: list[Credit] = []
    seen: set[tuple[str, str]] = set()
    for c in credits:
        key = (c.kind, c.value.casefold())
        if c.kind == "caption" or key not in seen:
            seen.add(key)
            unique.append(c)
    image_credits = tuple(
        ImageCredit(credit=c.value, caption=c.caption) for c in unique if c.kind in ("photo", "caption")
    )
    closing = [c for c in credits if c.rule.startswith(("credit_line:", "byline:"))]
    opening = [c for c in credits if c.rule.startswith(("dateline:", "inline:"))]
    found_kinds = ["byline" for i in sorted(leading)]
    for idx in sorted(trailing):
        kinds = {c.rule.split(":", 1)[0] for c in credits if c.line == lines[idx].text}
        found_kinds.append("photo" if kinds == {"photo"} else "byline" if kinds == {"byline"} else "source")
    if any(c.rule.startswith("dateline:") for c in unique):
        found_kinds.append("dateline")
    removed_lines = [lines[i].text for i in sorted(taken)]
    return Extraction(
        html=_serialise(root) if (removed or changed) else html,
        distributing_source=_first(closing, "source"),
        original_agency=_first(closing, "agency"),
        source_place=_first(closing, "place"),
        dateline_place=next((c.value for c in opening if c.kind == "place"), None),
        dateline_date=_first(opening, "date"),
        dateline_agency=_first(opening, "agency"),
        image_credits=image_credits,
        bylines=tuple(c.value for c in unique if c.kind == "byline"),
        lines=tuple(removed_lines),
        furniture_removed=removed,
        found=tuple(found_kinds),
        credits=tuple(c for c in unique if c.kind in KINDS),
    )


# ------------------------------------------------------------------------------------------ fast path

# Most bodies (nine in ten of the real feeds) hold no furniture and no credit: for those, `extract` would parse the
# HTML, read every line and give the body back untouched. `_fast_verdict` reads the lines off the string instead
# (the tags as sanitize_html writes them), for the shapes where lxml's tree is the nesting of the tags as written:
# paragraphs and headings of inline text, boxes (div, figure, quotes, list items, cells, anchors) of blocks and
# inline text, lists, tables in their parts, code blocks, pictures, rules and breaks. It runs the same furniture and
# credit checks on them. Any other shape (an unknown or misplaced tag, a raw "<", an entity the sanitiser does not
# write) and any finding (a furniture block, a credit) goes the full way, which decides it: the fast path only
# answers "nothing here" (NOTHING) or "nothing but the empty blocks closing it" (EMPTY_TAIL). Tested equal to
# `_Reader` on lxml's tree line by line (tests/unit/test_extract_fastpath.py, and the real-feed digests).
_INLINE = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "del", "dfn", "em", "i", "ins", "kbd", "mark", "q", "s", "samp",
    "small", "span", "strong", "sub", "sup", "time", "u", "var",
})
_VOID = frozenset({"br", "hr", "img", "source", "col"})
_PHRASING = _INLINE | {"br", "img", "picture"}
# Elements holding inline content only (a block in them is where the sanitiser's parser and lxml's part ways).
_PHRASING_PARENTS = _INLINE | {"p", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "pre"}
_FLOW = _PHRASING | {
    "hr", "p", "h1", "h2", "h3", "h4", "h5", "h6", "div", "ul", "ol", "pre", "blockquote", "dl", "figure", "figcaption",
    "table",
}
_FLOW_PARENTS = frozenset({"", "div", "blockquote", "li", "dd", "figure", "figcaption", "td", "th", "caption"})
# Elements that hold only these (and white space): a table in its parts, as written (lxml moves nothing then).
_ROWS = frozenset({"tr"})
_LIST_ITEMS = {
    "ul": frozenset({"li", "ul", "ol"}), "ol": frozenset({"li", "ul", "ol"}), "dl": frozenset({"dt", "dd"}),
    "picture": frozenset({"source", "img"}),
    "table": frozenset({"caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr"}),
    "thead": _ROWS, "tbody": _ROWS, "tfoot": _ROWS, "tr": frozenset({"td", "th"}), "colgroup": frozenset({"col"}),
}
# lxml's parser (libxml2) gives up the nesting of elements deeper than 255 levels: deeper bodies go the full way.
_MAX_DEPTH = 100
_MAX_CHARS = 1_000_000  # and it cuts text nodes of many megabytes
# An anchor holding blocks (the sanitiser's parser allows it, and so does lxml) but a table or another anchor.
_FLOW_IN_ANCHOR = _FLOW - {"a", "table"}
_KNOWN_TAGS = frozenset(_FLOW | {"li", "dt", "dd", "source"} | {tag for items in _LIST_ITEMS.values() for tag in items})
_KNOWN_TOKENS = _KNOWN_TAGS | {"/" + tag for tag in _KNOWN_TAGS - _VOID}
_INLINE_TOKENS = _INLINE | {"/" + tag for tag in _INLINE} | {"br", "img"}
# Only these entities (the ones the sanitiser's serialiser writes) are decoded here, as lxml decodes them; lxml
# rewrites a NUL and a carriage return; a literal LINE SEPARATOR would be taken for a marked <br>.
_ODD_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot|nbsp);)")


class _Node:
    """An element read off the string: what `_Reader` and the furniture check ask of an lxml element."""

    __slots__ = ("tag", "items", "content", "first", "kids", "container", "img")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.items: list[str | _Node] = []  # text and child elements in document order (not kept in opaque ones)
        self.content = ""  # text_content(), with each <br> marked
        self.first: str | None = None  # the first child element's text_content() (None: no child element)
        self.kids = False  # has a child element
        self.container = False  # has a child element that `_Reader` reads apart (a block, an opaque or a picture)
        self.img = False  # has an <img> below it


def _tree(html: str) -> _Node | None:
    """The body as a tree of `_Node`s, None if it is not of the shapes above."""
    if (len(html) > _MAX_CHARS or "\x00" in html or "\r" in html or _BREAK in html
            or ("&" in html and _ODD_ENTITY.search(html))):
        return None
    parts = serialised_parts(html)  # the split sanitize_html's parse-back check made of the same body
    names = parts[1::2]
    if len(names) != html.count("<") or not _KNOWN_TOKENS.issuperset(names):
        return None
    root = _Node("")
    open_nodes: list[_Node] = [root]  # the elements open outside opaque ones, and the opaque one we are in
    stack: list[str] = [""]  # every open element
    buf: list[str] = []  # the text of the opaque element we are in
    first: list[str] | None = None  # the text of its first child element, while it is open
    opaque_depth = 0  # len(stack) when we entered an opaque element (0: not in one)
    anchor_depth = 0  # the same for an anchor holding blocks
    i = 0
    count = len(names)
    while i < count:
        name = names[i]
        text = parts[2 * i]
        i += 1
        if text:
            parent = stack[-1]
            if parent in _LIST_ITEMS and not text.isspace():
                return None
            if "&" in text:
                text = unescape(text)
            if opaque_depth:
                buf.append(text)
                if first is not None:
                    first.append(text)
            else:
                open_nodes[-1].items.append(text)
        if name[0] == "/":
            name = name[1:]
            if stack[-1] != name:
                return None
            stack.pop()
            if len(stack) == anchor_depth:
                anchor_depth = 0
            if opaque_depth:
                if len(stack) == opaque_depth:  # the opaque element closes
                    node = open_nodes.pop()
                    node.content = "".join(buf)
                    opaque_depth = 0
                    _close(node, open_nodes[-1])
                elif len(stack) == opaque_depth + 1 and first is not None:
                    open_nodes[-1].first = "".join(first)
                    first = None
            else:
                node = open_nodes.pop()
                _close(node, open_nodes[-1])
            continue
        parent = stack[-1]
        if parent in _LIST_ITEMS:
            if name not in _LIST_ITEMS[parent]:
                return None
        elif name not in (_FLOW_IN_ANCHOR if parent == "a" else _PHRASING if parent in _PHRASING_PARENTS
                          else _FLOW if parent in _FLOW_PARENTS else ()):
            return None
        if (anchor_depth and (name == "a" or name == "table")) or len(stack) > _MAX_DEPTH:
            return None
        if name == "img":
            for node in open_nodes:
                node.img = True
        run = _phrasing_run(names, parts, i - 1, anchor_depth > 0, len(stack)) if name in _PHRASING_PARENTS else None
        if run is None and name == "a" and not anchor_depth and parent not in _PHRASING_PARENTS:
            anchor_depth = len(stack)  # an anchor holding blocks: read child by child
        elif name in _PHRASING_PARENTS and run is None:
            return None
        if run is not None and (opaque_depth or not run[0].container):
            # Inline content only, read in one go (most tags of a body are in paragraphs and code blocks). A
            # heading holding code or a picture is read child by child, as `_Reader` reads it.
            node, i = run
            if node.img:
                for open_node in open_nodes:
                    open_node.img = True
            if opaque_depth:
                buf.append(node.content)
                if first is not None:
                    first.append(node.content)
                elif len(stack) == opaque_depth + 1 and not open_nodes[-1].kids:
                    open_nodes[-1].kids = True
                    open_nodes[-1].first = node.content
            else:
                _close(node, open_nodes[-1])
            continue
        if opaque_depth:
            if len(stack) == opaque_depth + 1 and not open_nodes[-1].kids:  # its first child element
                open_nodes[-1].kids = True
                if name in _VOID:
                    open_nodes[-1].first = ""
                else:
                    first = []
            if name == "br":
                buf.append(_BREAK)
                if first is not None:
                    first.append(_BREAK)
            if name not in _VOID:
                stack.append(name)
            continue
        node = _Node(name)
        if name not in _VOID:
            stack.append(name)
            open_nodes.append(node)
            if name in _OPAQUE:
                opaque_depth = len(stack) - 1
                buf = []
        else:
            if name == "br":
                node.content = _BREAK
            _close(node, open_nodes[-1])
    if len(stack) != 1:
        return None
    tail = parts[-1]
    if tail:
        root.items.append(unescape(tail) if "&" in tail else tail)
    return root


def _phrasing_run(
    names: Sequence[str], parts: Sequence[str], at: int, anchored: bool, depth: int
) -> tuple[_Node, int] | None:
    """The element opened by token `at` that holds inline content only, read to its end tag: the element, and the
    index of the token after its end tag. None if its tags are not well nested inline ones (`anchored`: it stands
    in an anchor; `depth`: the elements it stands in)."""
    name = names[at]
    try:
        end = names.index("/" + name, at + 1)
    except ValueError:
        return None
    inner = names[at + 1:end]
    node = _Node(name)
    if not inner:
        text = parts[2 * at + 2]
    else:
        if not _INLINE_TOKENS.issuperset(inner):
            return None
        stack: list[str] = []
        for tag in inner:
            if tag[0] == "/":
                if not stack or stack.pop() != tag[1:]:
                    return None
            elif tag not in _VOID:
                if tag == "a" and (anchored or name == "a" or "a" in stack):
                    return None  # an anchor in an anchor: lxml closes the first
                stack.append(tag)
                if len(stack) + depth > _MAX_DEPTH:
                    return None
        if stack:
            return None
        texts = parts[2 * at + 2:2 * end + 1:2]
        if "br" in inner:
            marked = list(texts)
            for k, tag in enumerate(inner):
                if tag == "br":
                    marked[k + 1] = _BREAK + marked[k + 1]
            texts = marked
        text = "".join(texts)
        node.kids = True
        node.img = "img" in inner
        if not _CONTAINER_CHILDREN.isdisjoint(inner):
            depth = 0
            for tag in inner:
                if tag[0] == "/":
                    depth -= 1
                else:
                    if not depth and tag in _CONTAINER_CHILDREN:
                        node.container = True
                        break
                    if tag not in _VOID:
                        depth += 1
    node.content = unescape(text) if "&" in text else text
    return node, end + 1


def _close(node: _Node, parent: _Node) -> None:
    """Seal an element read off the string into its parent."""
    if node.items:
        node.content = "".join(item if isinstance(item, str) else item.content for item in node.items)
    parent.items.append(node)
    if not parent.kids:
        parent.kids = True
        parent.first = node.content
    if node.tag in _CONTAINER_CHILDREN:
        parent.container = True


def _fast_lines(html: str, defaults: bool = True) -> tuple[_Node, list[_Line]] | None:
    """The body's tree and the lines `_Reader` would read in it; None if the body is not of the shapes read off the
    string or holds furniture."""
    root = _tree(html)
    if root is None:
        return None
    for item in root.items:
        if isinstance(item, _Node) and _furniture_node(item, defaults):
            return None
    reader = _Reader()
    reader.pictures = root.img
    plain = not any(isinstance(item, _Node) and item.tag in BLOCK_TAGS for item in root.items)
    _read_node(reader, root, "text", plain)
    return root, reader.lines


def _read_node(reader: _Reader, el: _Node, context: str, plain: bool = False) -> None:
    """`_Reader._container` over a tree read off the string."""
    parts: list[str] = []
    for child in el.items:
        if isinstance(child, str):
            parts.append(child)
            continue
        tag = child.tag
        if tag in _OPAQUE:
            reader._emit("".join(parts), None, context, plain)
            parts = []
            if child.content.strip():
                reader.lines.append(_Line("", None, "opaque", False))
        elif tag in _PICTURES:
            reader._emit("".join(parts), None, context, plain)
            parts = []
            reader.picture = True
        elif tag in BLOCK_TAGS:
            reader._emit("".join(parts), None, context, plain)
            parts = []
            inner = "caption" if tag == "figcaption" else context
            if tag != "p" and child.container:
                _read_node(reader, child, inner)
            else:
                if reader.pictures and tag == "p" and child.kids and child.img:
                    reader.picture = True
                reader._emit(child.content, None, inner)
        else:
            if reader.pictures and child.kids and child.img:
                reader.picture = True
            parts.append(child.content)
    reader._emit("".join(parts), None, context, plain)


def _furniture_node(el: _Node, defaults: bool) -> bool:
    """`_is_furniture` (with no partner patterns) for a top-level element read off the string."""
    raw = el.content.replace(_BREAK, "") if _BREAK in el.content else el.content
    # With no partner patterns, text longer than a heading is never matched: it need not be cleaned.
    text = "" if _too_long_for_heading(raw) else clean_text(raw)
    if el.tag not in _BOXES:
        return _furniture_heading(el.tag, text, text, (), defaults)
    heading = text
    if el.kids:
        first = el.first or ""
        first = first.replace(_BREAK, "") if _BREAK in first else first
        heading = "" if _too_long_for_heading(first) else clean_text(first)
    return _furniture_heading(el.tag, text, heading, (), defaults)


NOTHING = "nothing"  # the body holds no furniture and no credit, and no empty block closes it
EMPTY_TAIL = "empty tail"  # the same, but empty blocks close it (they go)


def _fast_verdict(html: str, credit_rules: CreditRules, *, defaults: bool, remove: bool) -> str | None:
    """NOTHING or EMPTY_TAIL when that is what `extract` would find in the body; None: not known."""
    read = _fast_lines(html, defaults)
    if read is None:
        return None
    root, lines = read
    credits, leading, trailing = read_credits(lines, credit_rules)
    if credits or leading or trailing:
        return None
    if remove and root.kids:
        last = next(item for item in reversed(root.items) if isinstance(item, _Node))
        if last.tag not in _KEPT_EMPTY and not last.img and not last.content.replace(_BREAK, "").strip():
            return EMPTY_TAIL
    return NOTHING


def _drop_empty_tail(root: lxml.html.HtmlElement) -> bool:
    """Drop the empty blocks closing the body (what is left of a credit zone, an empty table or paragraph); False
    if there is none. (Walked from the last block back: listing every block of a long body costs more.)"""
    changed = False
    el = root[-1] if len(root) else None
    while el is not None:
        previous = el.getprevious()
        if isinstance(el.tag, str):
            if el.tag in _KEPT_EMPTY or el.text_content().strip() or el.find(".//img") is not None:
                break
            _drop(el)
            changed = True
        el = previous
    return changed


def strip_selected(html: str, selectors: Sequence[str]) -> str:
    """Apply a partner's CSS-selector furniture rules to the raw HTML (before sanitising drops the classes and
    ids they name): each first match's top-level block goes, with everything after it."""
    if not selectors or not html.strip():
        return html
    try:
        root = _fragment(html)
    except (etree.ParserError, ValueError):
        return html
    if not remove_furniture(root, FurnitureRules(selectors=tuple(selectors), defaults=False)):
        return html
    return _serialise(root)


def remove_furniture(
    root: lxml.html.HtmlElement, rules: FurnitureRules, texts: dict[etree._Element, str] | None = None
) -> int:
    """Drop the first furniture block (by selector, pattern or default heading) and everything after it.
    `texts` receives the text of each block read (the credit reader reads it again otherwise)."""
    children = [c for c in root if isinstance(c.tag, str)]
    cut: int | None = None
    for sel in rules.selectors:
        selector = _selector(sel)
        if selector is None:
            continue
        for el in selector(root):
            top = _top_level(root, el)
            if top is not None and top in children:
                pos = children.index(top)
                cut = pos if cut is None else min(cut, pos)
                break
    patterns = _patterns(rules.patterns)
    for idx, child in enumerate(children):
        if cut is not None and idx >= cut:
            break
        if _is_furniture(child, patterns, rules.defaults, texts):
            cut = idx
            break
    if cut is None:
        return 0
    for el in children[cut:]:
        _drop(el)
    return len(children) - cut


# Every ASCII character clean_text drops or collapses (controls, whitespace): what is left after deleting
# them is a lower bound on the cleaned length.
_ASCII_SPACE_AND_CONTROLS = bytes(range(0x21))
_PROBE_CHARS = 4 * HEADING_MAX_CHARS


def _is_furniture(
    el: etree._Element, patterns: Sequence[re.Pattern[str]], defaults: bool,
    texts: dict[etree._Element, str] | None = None,
) -> bool:
    raw = el.text_content() if hasattr(el, "text_content") else ""
    if texts is not None:
        texts[el] = raw
    if not patterns and el.tag not in _BOXES and _too_long_for_heading(raw):
        # A paragraph too long to be a furniture heading, and no partner patterns to test: the cleaned
        # text (a few microseconds per block, every block of every body) is not needed.
        return defaults and el.tag == "footer"
    return _is_furniture_text(el, clean_text(raw), patterns, defaults)


def _too_long_for_heading(raw: str) -> bool:
    """Whether the cleaned `raw` is surely longer than a heading, without cleaning it all. Each printable ASCII
    character of `raw` stays in the cleaned text, or opens a composed character there: their count bounds the
    cleaned length from below (exact for ASCII text). Beyond, the cleaned start of the block bounds the cleaned
    whole from below (every word of the start is kept, the cut one at least as long), with room for what composing
    characters at the cut could take."""
    if len(raw) <= HEADING_MAX_CHARS:
        return False
    # The count over the block's start bounds the count over the whole from below: a long paragraph is told by its
    # start, without encoding all of it.
    if len(raw) > _PROBE_CHARS and _printable_ascii(raw[:_PROBE_CHARS]) > HEADING_MAX_CHARS:
        return True
    if _printable_ascii(raw) > HEADING_MAX_CHARS:
        return True
    return not raw.isascii() and len(clean_text(raw[:_PROBE_CHARS])) > 2 * HEADING_MAX_CHARS


def _printable_ascii(raw: str) -> int:
    return len(raw.encode("ascii", "ignore").translate(None, _ASCII_SPACE_AND_CONTROLS))


def _is_furniture_text(el: etree._Element, text: str, patterns: Sequence[re.Pattern[str]], defaults: bool) -> bool:
    """The full check, on the block's cleaned text (and its first child's, for a list or a box)."""
    heading = text
    if el.tag in _BOXES and len(el):
        heading = clean_text(el[0].text_content()) if hasattr(el[0], "text_content") else ""
    return _furniture_heading(el.tag, text, heading, patterns, defaults)


def _furniture_heading(
    tag: str, text: str, heading: str, patterns: Sequence[re.Pattern[str]], defaults: bool
) -> bool:
    if defaults and tag in ("aside", "nav", "footer"):
        return True
    for candidate in {text, heading}:
        if not candidate:
            continue
        if defaults and len(candidate) <= HEADING_MAX_CHARS and FURNITURE_HEADINGS.match(candidate):
            return True
        if len(candidate) <= 300 and any(p.search(candidate) for p in patterns):
            return True
    return False


@lru_cache(maxsize=256)
def _selector(sel: str) -> CSSSelector | None:
    try:
        return CSSSelector(sel)
    except Exception:  # an invalid selector is refused by config validation; never fail on it here
        return None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.I)
    except re.error:
        return None


def _patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    return [p for p in (_compiled(s) for s in patterns) if p is not None]


def _top_level(root: etree._Element, el: etree._Element) -> etree._Element | None:
    node: etree._Element | None = el
    while node is not None and node.getparent() is not root:
        node = node.getparent()
    return node


def _fragment(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(html, create_parent="div")


def _serialise(root: lxml.html.HtmlElement) -> str:
    out = lxml.html.tostring(root, encoding="unicode", method="html")
    # Drop the wrapper <div> we created.
    return out[len("<div>") : -len("</div>")].strip() if out.startswith("<div>") else out


def _cut(scope: etree._Element, piece: str, shallow: bool, from_end: bool = False) -> bool:
    """Cut one line's text out of the text nodes of `scope` (only its own text and its children's tails when
    `shallow`), with the <br> that ended or opened it. False when the line spans several text nodes.
    A line of the trailing zone is looked for from the end (`from_end`): the same words earlier in the block
    ("By Jane Doe0" above a closing "By Jane Doe") are not the line that was read."""
    target = piece.strip()
    if not target:
        return False
    slots = _text_slots(scope, shallow)
    for node, is_text in reversed(slots) if from_end else slots:
        value = node.text if is_text else node.tail
        if not value or target not in value:
            continue
        head, _, rest = value.rpartition(target) if from_end else value.partition(target)
        if is_text:
            node.text = head + rest
            if not node.text.strip() and len(node) and node[0].tag == "br":
                _drop(node[0])
        else:
            node.tail = head + rest
            if not node.tail.strip():
                following = node.getnext()
                if node.tag == "br":
                    _drop(node)
                elif following is not None and following.tag == "br":
                    _drop(following)
        return True
    return False


def _text_slots(scope: etree._Element, shallow: bool) -> list[tuple[etree._Element, bool]]:
    """The text nodes of `scope` in document order, as (element, True) for its text and (element, False) for
    its tail; comments and processing instructions are skipped with their tails."""
    if shallow:
        return [(scope, True), *((c, False) for c in scope if isinstance(c.tag, str))]
    slots: list[tuple[etree._Element, bool]] = []

    def walk(node: etree._Element) -> None:
        if not isinstance(node.tag, str):
            return
        slots.append((node, True))
        for child in node:
            walk(child)
        if node is not scope:
            slots.append((node, False))

    walk(scope)
    return slots


def _drop(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is None:
        return
    # Keep text that followed the element (its tail) in the document.
    if el.tail and el.tail.strip():
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)
