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

from syndication.domain import ImageCredit
from syndication.pipeline.text import clean_text

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
BLOCK_TAGS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "figure", "section", "table", "dl",
    "pre", "aside", "footer", "header", "nav", "figcaption",
}

# ------------------------------------------------------------------------------------------ credit lines

_SEP = r"\s*[:\-–—]\s*"
_SOURCE_WORDS = (
    r"sources?|via|источники?|джерело|mənbə|menbe|kaynak|quelle|fuente|fonte"
)
_WITH_WORDS = (
    r"with|and|citing|from|via|со ссылкой на|по данным|с|и|ilə|və|avec|citant|selon|d'après|mit|und|con|y|та|і"
)
# "source: commonspace.eu with Turan news agency, Baku." / "SOURCE: Turan news agency, Baku" / "Источник: ..."
SOURCE_LINE = re.compile(
    rf"^\s*(?:{_SOURCE_WORDS}){_SEP}(?P<dist>.+?)"
    rf"(?:\s+(?:{_WITH_WORDS})\s+(?P<agency>.+?))?"
    r"(?:\s*,\s*(?P<place>[^,.;:()]{2,60}?))?\s*[.;]?\s*$",
    re.I,
)
_PHOTO_WORDS = (
    r"photo(?:graph)?s?(?:\s+credits?)?|pictures?|pic|images?|foto(?:ğraf)?s?|фото(?:графия)?|şəkil|рисунок"
    r"|crédit photo|photo credit|bildquelle|bild"
)
# A credit in brackets at the end of a photo line: "(picture courtesy of contact.az)", "(Trend)",
# "(photo: AFP)", "(© Reuters)", "[courtesy Georgian Railway]".
_PAREN_CREDIT = (
    r"[(\[]\s*(?:(?:picture|photo|image|pic|фото|foto|şəkil)\s*(?::\s*)?)?"
    r"(?:(?:courtesy(?:\s+of)?|by|credit:?|source:?|©|\(c\)|предоставлено|любезно предоставлено)\s*)?"
    r"(?P<credit>[^()\[\]]{2,120}?)\s*[)\]]"
)
PHOTO_LINE = re.compile(
    rf"^\s*(?:{_PHOTO_WORDS})\s*(?:{_SEP}|\s+(?=by\b|©))(?P<caption>.*?)\s*{_PAREN_CREDIT}\s*[.;]?\s*$", re.I
)
PHOTO_BY = re.compile(rf"^\s*(?:{_PHOTO_WORDS})\s*(?:by|©|\(c\))\s*:?\s*(?P<credit>.{{2,120}}?)\s*\.?\s*$", re.I)
PHOTO_SIMPLE = re.compile(rf"^\s*(?:{_PHOTO_WORDS}){_SEP}(?P<credit>.{{2,200}}?)\s*\.?\s*$", re.I)
PHOTO_CREDIT_MAX_WORDS = 6

_BY_WORDS = r"by|автор(?:ы)?\s*:|müəllif\s*:|yazar\s*:|par|von|por|текст\s*:"
BYLINE = re.compile(
    rf"^\s*(?:{_BY_WORDS})\s*(?P<names>[^\d:;|]{{3,160}}?)\s*\.?\s*$",
    re.I,
)
_NAME_SPLIT = re.compile(r"\s*(?:,|&|\band\b|\bи\b|\bvə\b|\bet\b|\bund\b|\by\b)\s*", re.I)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

# "BAKU, 4 February –", "Baku (Turan) –", "TBILISI, Nov. 25 (Caspian Wire) -", "Aktau, Kazakhstan, 25 November —",
# "МОСКВА, 25 ноября –", "Bakı, 4 fevral (Turan) –".
_WORD = r"[^\W\d_][\w'’.\-]*"
_PLACE = rf"{_WORD}(?:\s+{_WORD}){{0,3}}"
_MONTH = r"[^\W\d_]{3,10}\.?"
_DATE = rf"(?:\d{{1,2}}\s+{_MONTH}|{_MONTH}\s+\d{{1,2}})(?:,?\s+\d{{4}})?"
DATELINE = re.compile(
    rf"^\s*(?P<place>{_PLACE})"
    rf"(?:\s*,\s*(?P<region>{_PLACE}))??"
    r"(?:\s*\((?P<agency>[^)]{2,40})\))?"
    rf"(?:\s*,\s*(?P<date>{_DATE}))?"
    r"(?:\s*\((?P<agency2>[^)]{2,40})\))?"
    r"\s*(?:[–—]|--?)\s+",
)
_NOT_PLACE_WORDS = {"the", "a", "an", "by", "in", "on", "of", "and", "this", "we", "it", "he", "she", "they"}
# Words that name nobody in particular: "Source: commonspace.eu with agencies."
GENERIC_AGENCIES = {
    "agencies", "agency", "news agencies", "agency reports", "wire services", "wires", "agencies and staff",
    "агентства", "информагентства", "agentliklər", "agences", "agencias",
}


@dataclass(frozen=True, slots=True)
class FurnitureRules:
    """Per-partner page-furniture rules on top of the default headings."""

    selectors: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    defaults: bool = True


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


# ------------------------------------------------------------------------------------------ matching


@dataclass(frozen=True, slots=True)
class SourceLine:
    distributing_source: str | None
    original_agency: str | None
    place: str | None


def match_source_line(text: str) -> SourceLine | None:
    m = SOURCE_LINE.match(text)
    if not m:
        return None
    dist, agency, place = _trim(m.group("dist")), _trim(m.group("agency")), _trim(m.group("place"))
    if agency and place is None and "," in agency:
        agency, _, place = (s.strip() for s in agency.rpartition(","))
    if dist and agency is None and place is None and "," in dist:
        dist, _, place = (s.strip() for s in dist.rpartition(","))
    if agency and agency.lower() in GENERIC_AGENCIES:
        agency = None
    if dist and dist.lower() in GENERIC_AGENCIES:
        dist = None
    if place and not _plausible_place(place):
        place = None
    if not dist and not agency:
        return None
    return SourceLine(dist, agency, place)


def match_photo_line(text: str) -> ImageCredit | None:
    m = PHOTO_LINE.match(text)
    if m:
        credit = _trim(m.group("credit"))
        if credit:
            return ImageCredit(credit=credit, caption=_trim(m.group("caption")))
    m = PHOTO_BY.match(text)
    if m and (credit := _trim(m.group("credit"))):
        return ImageCredit(credit=credit)
    m = PHOTO_SIMPLE.match(text)
    if m and (value := _trim(m.group("credit"))):
        # "Photo: Reuters" is a credit; "Photo: Deputies voting in the chamber" is a caption with no credit.
        if len(value.split()) <= PHOTO_CREDIT_MAX_WORDS and not value[:1].islower():
            return ImageCredit(credit=value)
        return ImageCredit(credit="", caption=value)
    return None


def match_byline(text: str) -> tuple[str, ...] | None:
    m = BYLINE.match(text)
    if not m:
        return None
    raw = _EMAIL.sub("", m.group("names"))
    raw = re.sub(r"\(\s*\)|<\s*>", "", raw)
    names = tuple(
        n.title() if n.isupper() else n for n in (n.strip(" .") for n in _NAME_SPLIT.split(raw)) if n
    )
    if not names or any(len(n.split()) > 5 or not n[:1].isupper() for n in names):
        return None
    return names


@dataclass(frozen=True, slots=True)
class Dateline:
    place: str
    date: str | None
    agency: str | None


def match_dateline(text: str) -> Dateline | None:
    m = DATELINE.match(text)
    if not m:
        return None
    place = m.group("place").strip()
    region = m.group("region")
    if not _plausible_place(place) or not place[:1].isupper():
        return None
    if region and not _plausible_place(region):
        return None
    if place.isupper():
        place = place.title()
    if region:
        place = f"{place}, {region.title() if region.isupper() else region}"
    return Dateline(place=place, date=m.group("date"), agency=_trim(m.group("agency") or m.group("agency2")))


# ------------------------------------------------------------------------------------------ extraction


def extract(html: str, rules: FurnitureRules | None = None, *, remove: bool = True) -> Extraction:
    """Find furniture, credit lines, byline and dateline in sanitised HTML; return what is left.

    With ``remove=False`` (a partner that forbids derivatives) the credit lines and byline are read but
    stay in the body; furniture is removed either way.
    """
    rules = rules or FurnitureRules()
    if not html.strip():
        return Extraction(html="")
    try:
        root = _fragment(html)
    except (etree.ParserError, ValueError):
        return Extraction(html=html)
    removed = remove_furniture(root, rules)
    children = [c for c in root if isinstance(c.tag, str)]

    dist = agency = place = None
    credits: list[ImageCredit] = []
    lines: list[str] = []
    found: list[str] = []
    # Credit lines: trailing blocks, read from the end while they match.
    idx = len(children)
    changed = False
    while idx > 0:
        last = children[idx - 1]
        text = clean_text(last.text_content())
        if not text and last.tag not in ("img", "picture", "figure") and not len(last.xpath(".//img")):
            if remove:
                _drop(last)
                changed = True
            idx -= 1
            continue
        if last.tag not in BLOCK_TAGS or len(text) > 300:
            break
        src = match_source_line(text)
        photo = None if src else match_photo_line(text)
        if src:
            # Several source lines: the last one read (the first in the document) fills what is missing.
            dist, agency, place = dist or src.distributing_source, agency or src.original_agency, place or src.place
            found.insert(0, "source")
        elif photo:
            credits.insert(0, photo)
            found.insert(0, "photo")
        else:
            break
        lines.insert(0, text)
        if remove:
            _drop(last)
            changed = True
        idx -= 1
    children = children[:idx]

    # Byline and dateline at the top.
    bylines: tuple[str, ...] = ()
    byline_lines: list[str] = []
    while children:
        first = children[0]
        text = clean_text(first.text_content())
        names = match_byline(text) if first.tag in BLOCK_TAGS and len(text) < 160 else None
        if not names:
            break
        bylines += tuple(n for n in names if n not in bylines)
        byline_lines.append(text)
        found.insert(len(byline_lines) - 1, "byline")
        if remove:
            _drop(first)
            changed = True
        children = children[1:]
    lines[:0] = byline_lines
    dateline: Dateline | None = None
    if children:
        dateline = match_dateline(clean_text(children[0].text_content()))
        if dateline:
            found.append("dateline")
    return Extraction(
        html=_serialise(root) if (removed or changed) else html,
        distributing_source=dist,
        original_agency=agency,
        source_place=place,
        dateline_place=dateline.place if dateline else None,
        dateline_date=dateline.date if dateline else None,
        dateline_agency=dateline.agency if dateline else None,
        image_credits=tuple(credits),
        bylines=bylines,
        lines=tuple(lines),
        furniture_removed=removed,
        found=tuple(found),
    )


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


def remove_furniture(root: lxml.html.HtmlElement, rules: FurnitureRules) -> int:
    """Drop the first furniture block (by selector, pattern or default heading) and everything after it."""
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
        if _is_furniture(child, patterns, rules.defaults):
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


def _is_furniture(el: etree._Element, patterns: Sequence[re.Pattern[str]], defaults: bool) -> bool:
    raw = el.text_content() if hasattr(el, "text_content") else ""
    if (not patterns and el.tag not in ("ul", "ol", "div", "section", "aside", "nav") and raw.isascii()
            and len(raw.encode("ascii").translate(None, _ASCII_SPACE_AND_CONTROLS)) > HEADING_MAX_CHARS):
        # A paragraph too long to be a furniture heading, and no partner patterns to test: the cleaned
        # text (a few microseconds per block, every block of every body) is not needed.
        return defaults and el.tag == "footer"
    return _is_furniture_text(el, clean_text(raw), patterns, defaults)


def _is_furniture_text(el: etree._Element, text: str, patterns: Sequence[re.Pattern[str]], defaults: bool) -> bool:
    """The full check, on the block's cleaned text (and its first child's, for a list or a box)."""
    heading = text
    if el.tag in ("ul", "ol", "div", "section", "aside", "nav") and len(el):
        heading = clean_text(el[0].text_content()) if hasattr(el[0], "text_content") else ""
    if defaults and el.tag in ("aside", "nav", "footer"):
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


def _plausible_place(place: str) -> bool:
    words = place.split()
    return 0 < len(words) <= 4 and not any(w.lower() in _NOT_PLACE_WORDS for w in words)


def _trim(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().strip(".;,:").strip()
    return value or None


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
