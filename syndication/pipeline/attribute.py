"""Turn credit lines into data and strip page furniture. Pure functions over sanitised HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import lxml.html
from lxml import etree

from syndication.domain import ImageCredit
from syndication.pipeline.text import clean_text

FURNITURE_HEADINGS = re.compile(
    r"^\s*(related( articles| news| stories| posts)?|editor'?s'? (choice|picks?)|popular( news| now| stories)?"
    r"|most (read|popular|viewed)|read (also|more)|see also|more (news|stories)|recommended( stories)?"
    r"|you may also like|latest news|top stories)\s*:?\s*$",
    re.I,
)
# "source: commonspace.eu with Turan news agency, Baku."
SOURCE_LINE = re.compile(
    r"^\s*(?:source|sources|via)\s*[:\-–—]\s*(?P<dist>.+?)"
    r"(?:\s+(?:with|and|citing|from)\s+(?P<agency>.+?))?"
    r"(?:\s*,\s*(?P<place>[^,.;]{2,60}?))?\s*[.;]?\s*$",
    re.I,
)
# "photo: Oil workers at Sangachal (picture courtesy of contact.az)"
PHOTO_LINE = re.compile(
    r"^\s*(?:photo|photos|picture|image|foto)\s*[:\-–—]\s*(?P<caption>.*?)\s*"
    r"[(\[]\s*(?:(?:picture|photo|image|pic)\s+)?(?:courtesy(?:\s+of)?|by|credit:?|©)\s*(?P<credit>[^)\]]+?)\s*[)\]]"
    r"\s*\.?\s*$",
    re.I,
)
PHOTO_SIMPLE = re.compile(
    r"^\s*(?:photo|photos|picture|image)\s*(?:credit)?\s*[:\-–—]\s*(?P<credit>.{2,120}?)\s*\.?\s*$", re.I
)
BYLINE = re.compile(r"^\s*by\s+(?P<names>[^\d,.:;]{3,120}?(?:(?:,| and )\s*[^\d,.:;]{3,60}?)*)\s*\.?\s*$", re.I)
# "BAKU, 4 February –", "Baku (Turan) –", "TBILISI, Nov. 25 (Caspian Wire) -"
DATELINE = re.compile(
    r"^\s*(?P<place>[A-Z][A-Za-z'’.\- ]{1,40}?)"
    r"(?:\s*\((?P<agency>[^)]{2,40})\))?"
    r"(?:\s*,\s*(?P<date>(?:\d{1,2}\s+[A-Za-z]{3,9}\.?|[A-Za-z]{3,9}\.?\s+\d{1,2})(?:,?\s+\d{4})?))?"
    r"(?:\s*\((?P<agency2>[^)]{2,40})\))?"
    r"\s*[–—-]{1,2}\s+",
)
BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "figure", "section"}


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


def _is_furniture_heading(el: etree._Element) -> bool:
    text = clean_text(el.text_content()) if hasattr(el, "text_content") else ""
    if not text or len(text) > 40:
        return False
    return bool(FURNITURE_HEADINGS.match(text))


def _fragment(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(html, create_parent="div")


def _serialise(root: lxml.html.HtmlElement) -> str:
    out = lxml.html.tostring(root, encoding="unicode", method="html")
    # Drop the wrapper <div> we created.
    return out[len("<div>") : -len("</div>")].strip() if out.startswith("<div>") else out


def extract(html: str) -> Extraction:
    """Find furniture, credit lines, byline and dateline in sanitised HTML; return what is left."""
    if not html.strip():
        return Extraction(html="")
    try:
        root = _fragment(html)
    except (etree.ParserError, ValueError):
        return Extraction(html=html)
    children = [c for c in root if isinstance(c.tag, str)]

    # Furniture: a heading such as "Related articles" and everything after it.
    removed = 0
    for idx, child in enumerate(children):
        if _is_furniture_heading(child) or (
            child.tag in ("ul", "ol", "div") and len(child) and _is_furniture_heading(child[0])
        ):
            for el in children[idx:]:
                _drop(el)
                removed += 1
            children = children[:idx]
            break

    dist = agency = place = None
    credits: list[ImageCredit] = []
    lines: list[str] = []
    # Credit lines: trailing paragraphs, read from the end while they match.
    while children:
        last = children[-1]
        text = clean_text(last.text_content())
        if not text:
            _drop(last)
            children.pop()
            continue
        if last.tag not in BLOCK_TAGS or len(text) > 300:
            break
        m = SOURCE_LINE.match(text)
        if m and dist is None:
            dist, agency, place = m.group("dist"), m.group("agency"), m.group("place")
            dist, agency, place = _trim(dist), _trim(agency), _trim(place)
            if agency and place is None and "," in agency:
                agency, _, place = (s.strip() for s in agency.rpartition(","))
        elif (m := PHOTO_LINE.match(text)) or (m := PHOTO_SIMPLE.match(text)):
            caption = m.groupdict().get("caption")
            credits.insert(0, ImageCredit(credit=_trim(m.group("credit")) or "", caption=_trim(caption)))
        else:
            break
        lines.insert(0, text)
        _drop(last)
        children.pop()

    # Byline and dateline at the top.
    bylines: tuple[str, ...] = ()
    if children:
        first = children[0]
        text = clean_text(first.text_content())
        bm = BYLINE.match(text) if first.tag in BLOCK_TAGS and len(text) < 140 else None
        if bm:
            bylines = tuple(n.strip() for n in re.split(r",|\band\b", bm.group("names")) if n.strip())
            lines.insert(0, text)
            _drop(first)
            children.pop(0)
    dl_place = dl_date = dl_agency = None
    if children:
        dm = DATELINE.match(clean_text(children[0].text_content()))
        if dm and _plausible_place(dm.group("place")):
            dl_place = dm.group("place").strip().title() if dm.group("place").isupper() else dm.group("place").strip()
            dl_date = dm.group("date")
            dl_agency = dm.group("agency") or dm.group("agency2")
    return Extraction(
        html=_serialise(root) if (removed or lines) else html,
        distributing_source=dist,
        original_agency=agency,
        source_place=place,
        dateline_place=dl_place,
        dateline_date=dl_date,
        dateline_agency=dl_agency,
        image_credits=tuple(credits),
        bylines=bylines,
        lines=tuple(lines),
        furniture_removed=removed,
    )


def _plausible_place(place: str) -> bool:
    words = place.split()
    return 0 < len(words) <= 4 and not any(w.lower() in {"the", "a", "an", "by", "in", "on"} for w in words)


def _trim(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().strip(".;,").strip()
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
