"""NewsML-G2 bytes -> ParsedFeed. Pure: no network, no files.

Reads a `newsItem`, a `packageItem`, or a `newsMessage` whose `itemSet` holds them: one ParsedEntry per
item, with what the item states as fields in `entry.wire`. Written with lxml by hand rather than IPTC's
`newsmlg2` package: measured on IPTC's guideline listings (bench/newsmlg2_check.py), 1.1 reads the fields
right where it reads the item at all, but fails on any item with a hop history (TypeError in its party
array), gives a newsMessage's items as raw elements, prints warnings to stdout and converts no body;
the body conversion, names by language and QCode reading are ours either way. docs/wire.md has the figures.

The XML guarantees are the feeds': the bytes are re-encoded as UTF-8 and every DOCTYPE is stripped
before lxml runs, with entities never resolved, no DTD loaded, no network and no huge trees, so an
entity reference (billion laughs, an external file) is an undefined entity and the document is refused.
"""

from __future__ import annotations

import re
from copy import deepcopy
from html import escape

from lxml import etree

from syndication.intake.parse import (
    ParseError,
    UnsupportedWireItem,
    _parse_dt,
    _text_as_html,
    _walk_prolog,
    to_utf8,
)
from syndication.kernel.domain import Enclosure, ImageCredit, ParsedEntry, ParsedFeed, WireFields

G2_NS = "http://iptc.org/std/nar/2006-10-01/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPES = ("application/vnd.iptc.g2.newsitem+xml", "application/vnd.iptc.g2.newsmessage+xml",
               "application/vnd.iptc.g2.packageitem+xml")
# Roots we take, and the other G2 item roots, which we recognise so as to refuse them by name.
NEWS_ROOTS = ("newsItem", "packageItem", "newsMessage")
OTHER_ROOTS = ("planningItem", "conceptItem", "knowledgeItem", "catalogItem")
ACCEPTED = "text, photo and package news items (newsItem of itemClass ninat:text or ninat:picture, packageItem)"

# itemClass (IPTC NewsCodes "ninature") -> our item type; any other class is refused by name.
_ITEM_CLASSES = {"text": "text", "picture": "picture", "graphic": "picture", "composite": "composite"}
_PUBSTATUS_TO_STATUS = {"canceled": "withdrawn", "withheld": "withheld"}
# Renditions in the order we would show a reader: a web-sized picture before the high resolution original.
_RENDITION_RANK = ("web", "preview", "highres", "print", "baseimage")
# NITF's own block elements, as the HTML the sanitiser knows (anything else keeps its text only).
_NITF_TO_HTML = {"hl1": "h2", "hl2": "h3", "block": "div", "bq": "blockquote", "credit": "p", "fn": "aside",
                 "media": "figure", "media-caption": "figcaption", "note": "aside", "pre": "pre"}

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                          remove_comments=True, remove_pis=True, strip_cdata=True)
_SPACE = re.compile(r"\s+")


def _g2(name: str) -> str:
    return f"{{{G2_NS}}}{name}"


def root_name(body: bytes) -> str | None:
    """The local name of the document's root element (prefix dropped), read from the prolog; None if none.

    Cheap enough for dispatch: no parse. UTF-16/32 documents are converted first, as the parser would."""
    head = body[:65536]
    root = _walk_prolog(head)[1]
    if root is None and (b"\x00" in head[:4] or head.startswith((b"\xfe\xff", b"\xff\xfe"))):
        root = _walk_prolog(to_utf8(head)[0])[1]
    if root is None:
        return None
    return root.decode("ascii", "replace").rsplit(":", 1)[-1]


def is_newsml(body: bytes) -> bool:
    """Whether the root element is a NewsML-G2 item or message (the namespace is checked by the parser)."""
    return root_name(body) in NEWS_ROOTS + OTHER_ROOTS


def parse_newsml(body: bytes, content_type: str | None = None) -> ParsedFeed:
    """A NewsML-G2 newsItem, packageItem or newsMessage -> ParsedFeed of format "newsml-g2".

    Raises ParseError for a document that is not well-formed or not NewsML-G2, and UnsupportedWireItem
    (naming the item) for planning, concept, event, audio or video items: a message holding one is refused
    whole, as a push is all or nothing."""
    utf8, _note = to_utf8(body, content_type)
    utf8 = _walk_prolog(utf8)[0]  # every DOCTYPE out: nothing declared can be expanded
    try:
        root = etree.fromstring(utf8, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"NewsML-G2: the document is not well-formed XML: {exc}") from None
    qname = etree.QName(root)
    if qname.localname in OTHER_ROOTS + NEWS_ROOTS and qname.namespace != G2_NS:
        raise ParseError(f"NewsML-G2: root element {qname.localname!r} is not in the NewsML-G2 namespace {G2_NS} "
                         f"(found {qname.namespace or 'no namespace'})")
    if qname.localname in OTHER_ROOTS:
        raise UnsupportedWireItem(f"NewsML-G2 {qname.localname} is not a news item; we accept {ACCEPTED}")
    if qname.localname == "newsMessage":
        item_set = root.find(_g2("itemSet"))
        items = [el for el in (item_set if item_set is not None else ()) if isinstance(el.tag, str)]
        if not items:
            raise ParseError("NewsML-G2: the newsMessage has no items in its itemSet")
    elif qname.localname in NEWS_ROOTS:
        items = [root]
    else:
        raise ParseError(f"NewsML-G2: root element {qname.localname!r} is not a newsItem, packageItem or "
                         "newsMessage")
    message_lang = root.get(XML_LANG)
    headlines = {el.get("guid"): _headline(el) for el in items if el.get("guid")}
    entries = tuple(_item_entry(el, i, message_lang, headlines) for i, el in enumerate(items, 1))
    return ParsedFeed(title=None, link=None, language=message_lang, entries=entries, format="newsml-g2",
                      encoding_note=_note)


# ---------------------------------------------------------------- one item


def _item_entry(item: etree._Element, index: int, message_lang: str | None,
                headlines: dict[str | None, str | None]) -> ParsedEntry:
    kind = etree.QName(item).localname
    label = f"item {index}" + (f" ({item.get('guid')!r})" if item.get("guid") else "")
    if kind not in ("newsItem", "packageItem"):
        raise UnsupportedWireItem(f"NewsML-G2 {label}: {kind} is not a news item; we accept {ACCEPTED}")
    meta = item.find(_g2("itemMeta"))
    item_type = "composite" if kind == "packageItem" else _item_type(meta, label)
    content_meta = item.find(_g2("contentMeta"))
    lang = _language(content_meta) or item.get(XML_LANG) or message_lang
    pubstatus = _code(_child(meta, "pubStatus")) or "usable"
    first_created = _text(_child(meta, "firstCreated"))
    version_created = _text(_child(meta, "versionCreated"))
    embargoed = _text(_child(meta, "embargoed"))
    # sig:correction marks a corrected version; edNote then (or on a kill) says why, as a change note.
    signals = {_code(sig) for sig in _children(meta, "signal")}
    holder, notice, terms, licence = _rights(item)
    byline = _text(_child(content_meta, "by"))
    credit_line = _text(_child(content_meta, "creditline"))
    # A description without a role is a picture's caption, a story's summary.
    caption = _description(content_meta, "caption", unmarked=item_type == "picture")
    body_html, nitf = _body(item.find(_g2("contentSet")))
    creators = tuple(n for n in (_name(c, lang) for c in _children(content_meta, "creator")) if n)
    sources = _info_sources(content_meta, lang)
    provider = _name(_child(meta, "provider"), lang)
    images = _images(item, item_type, credit_line or holder, caption)
    refs: tuple[str, ...] = ()
    if kind == "packageItem":
        refs = tuple(r.get("residref") or "" for r in item.iter(_g2("itemRef")) if r.get("residref"))
        body_html = _package_html(item, headlines)
    elif item_type == "picture" and body_html is None and caption:
        body_html = _text_as_html(caption)
    title = _headline(item) or nitf.get("headline")
    wire = WireFields(
        format="newsml-g2",
        item_type=item_type,
        version=item.get("version"),
        pubstatus=pubstatus,
        byline=byline or nitf.get("byline"),
        credit_line=credit_line,
        dateline=_text(_child(content_meta, "dateline")),
        located=_located(content_meta, lang),
        copyright_holder=holder,
        copyright_notice=notice,
        usage_terms=terms,
        license_url=licence,
        info_sources=tuple(name for name, _role in sources),
        images=images,
        item_refs=refs,
    )
    return ParsedEntry(
        guid=item.get("guid"),
        link=None,
        title=title,
        content_html=body_html,
        summary_html=_html_or_none(_description(content_meta, "summary", unmarked=item_type != "picture")
                                   or nitf.get("abstract")),
        authors=creators or ((byline,) if byline else ()),
        categories=_subjects(content_meta, lang),
        published=_parse_dt(first_created),
        updated=_parse_dt(version_created),
        published_raw=first_created,
        updated_raw=version_created,
        language=lang,
        enclosures=tuple(Enclosure(url=i.url, type=_image_type(item, i.url)) for i in images if i.url),
        status=_PUBSTATUS_TO_STATUS.get(pubstatus) or ("corrected" if "correction" in signals else None),
        change_note=_text(_child(meta, "edNote")) if pubstatus != "usable" or "correction" in signals else None,
        embargo_until=_parse_dt(embargoed),
        original_agency=_original_agency(item, sources, provider, lang),
        image_credit=(images[0].credit or None) if images else None,
        wire=wire,
    )


def _item_type(meta: etree._Element | None, label: str) -> str:
    item_class = _child(meta, "itemClass")
    code = _code(item_class)
    if code is None:
        return "text"  # itemClass is mandatory; an abbreviated item is most likely text
    kind = _ITEM_CLASSES.get(code)
    if kind is None:
        shown = item_class.get("qcode") or item_class.get("uri") if item_class is not None else code
        raise UnsupportedWireItem(f"NewsML-G2 {label}: itemClass {shown} is not taken; we accept {ACCEPTED}")
    return kind


def _rights(item: etree._Element) -> tuple[str | None, str | None, str | None, str | None]:
    """(copyright holder, notice, usage terms, licence URL) from the first rightsInfo that states each."""
    holder = notice = terms = licence = None
    for info in item.iterchildren(_g2("rightsInfo")):
        h = _child(info, "copyrightHolder")
        holder = holder or (h.get("literal") if h is not None else None) or _name(h, None)
        notice = notice or _text(_child(info, "copyrightNotice"))
        terms = terms or _text(_child(info, "usageTerms"))
        links = [link.get("href") for link in info.iterchildren(_g2("link")) if link.get("href")]
        for el in (_child(info, "usageTerms"), _child(info, "copyrightNotice")):
            if el is not None and el.get("href"):
                links.append(el.get("href"))
        licence = licence or next(iter(links), None)
    return holder, notice, terms, licence


def _info_sources(meta: etree._Element | None, lang: str | None) -> list[tuple[str, str | None]]:
    out = []
    for source in _children(meta, "infoSource"):
        name = _name(source, lang) or source.get("literal")
        if name:
            out.append((name, source.get("role")))
    return out


def _original_agency(item: etree._Element, sources: list[tuple[str, str | None]], provider: str | None,
                     lang: str | None) -> str | None:
    """The first info source that is not the distributor (the provider, or a source in a distributing role);
    else the party that created the content in the hop history."""
    for name, role in sources:
        if name != provider and "distribut" not in (role or "").lower():
            return name
    history = item.find(_g2("hopHistory"))
    for hop in history.iterchildren(_g2("hop")) if history is not None else ():
        if any(_code(a) == "created" and (a.get("target") or "").endswith("content")
               for a in hop.iterchildren(_g2("action"))):
            return next((n for n in (_name(p, lang) for p in hop.iterchildren(_g2("party"))) if n), None)
    return None


def _images(item: etree._Element, item_type: str, credit: str | None,
            caption: str | None) -> tuple[ImageCredit, ...]:
    """A picture item is its own image: its rendition a reader should see, with its credit line."""
    if item_type != "picture":
        return ()
    content = item.find(_g2("contentSet"))
    renditions = [r for r in _children(content, "remoteContent") if r.get("href")]
    if not renditions:
        return (ImageCredit(credit=credit, caption=caption),) if credit else ()
    # A file: URL is the sender's disk, never ours to show: any other href first, then by rendition.
    best = min(renditions, key=lambda r: (
        (r.get("href") or "").strip().lower().startswith("file:"), _rank(_code_of(r.get("rendition")))))
    return (ImageCredit(credit=credit or "", caption=caption, url=(best.get("href") or "").strip()),)


def _rank(rendition: str | None) -> int:
    if rendition in _RENDITION_RANK:
        return _RENDITION_RANK.index(rendition)
    return len(_RENDITION_RANK) + (1 if rendition == "thumb" else 0)


def _image_type(item: etree._Element, url: str) -> str | None:
    for r in item.iter(_g2("remoteContent")):
        if (r.get("href") or "").strip() == url:
            return r.get("contenttype")
    return None


def _package_html(item: etree._Element, headlines: dict[str | None, str | None]) -> str | None:
    """A package's copy: the list of the items it groups, by headline where we have one."""
    lines = []
    for ref in item.iter(_g2("itemRef")):
        residref = ref.get("residref")
        shown = _text(_child(ref, "title")) or headlines.get(residref) or None
        if shown:
            lines.append(f"<li>{escape(shown)}</li>")
    return f"<ul>{''.join(lines)}</ul>" if lines else None


# ---------------------------------------------------------------- the body


def _body(content: etree._Element | None) -> tuple[str | None, dict[str, str]]:
    """(body HTML, what the NITF head states: headline, byline, abstract). XHTML or NITF inline XML wins over
    inline text; the sanitiser runs later, as for any item."""
    if content is None:
        return None, {}
    for inline in content.iterchildren(_g2("inlineXML")):
        for child in inline:
            if not isinstance(child.tag, str):
                continue
            q = etree.QName(child)
            if q.localname == "nitf":
                return _nitf(child)
            if q.localname == "html":  # XHTML: the body's content
                body = child.find(f"{{{q.namespace}}}body" if q.namespace else "body")
                return _children_html(body if body is not None else child), {}
            if q.localname in ("body", "div", "article", "section"):
                return _children_html(child), {}
    for data in content.iterchildren(_g2("inlineData")):
        text = data.text or ""
        if not text.strip():
            continue
        if "html" in (data.get("contenttype") or ""):
            return text, {}
        return _text_as_html(text), {}
    return None, {}


def _nitf(nitf: etree._Element) -> tuple[str | None, dict[str, str]]:
    ns = etree.QName(nitf).namespace
    tag = (lambda n: f"{{{ns}}}{n}") if ns else (lambda n: n)
    body = nitf.find(tag("body"))
    if body is None:
        return None, {}
    head: dict[str, str] = {}
    for key, path in (("headline", f"{tag('body.head')}/{tag('hedline')}/{tag('hl1')}"),
                      ("byline", f"{tag('body.head')}/{tag('byline')}"),
                      ("abstract", f"{tag('body.head')}/{tag('abstract')}")):
        el = body.find(path)
        if el is not None:
            text = _SPACE.sub(" ", "".join(el.itertext())).strip()
            if text:
                head[key] = text
    content = body.find(tag("body.content"))
    return (_children_html(content, _NITF_TO_HTML) if content is not None else None), head


def _children_html(parent: etree._Element, renames: dict[str, str] | None = None) -> str | None:
    """The element's content as namespace-free HTML (tags renamed where NITF has its own)."""
    copy = deepcopy(parent)
    for el in copy.iter():
        if isinstance(el.tag, str):
            local = etree.QName(el).localname
            el.tag = (renames or {}).get(local, local)
            for attr in list(el.attrib):
                if attr.startswith("{"):
                    del el.attrib[attr]
    etree.cleanup_namespaces(copy)
    html = (copy.text or "") + "".join(
        etree.tostring(child, method="html", encoding="unicode", with_tail=True) for child in copy
    )
    return html if html.strip() else None


# ---------------------------------------------------------------- small readers


def _child(parent: etree._Element | None, name: str) -> etree._Element | None:
    return parent.find(_g2(name)) if parent is not None else None


def _children(parent: etree._Element | None, name: str) -> list[etree._Element]:
    return list(parent.iterchildren(_g2(name))) if parent is not None else []


def _text(el: etree._Element | None) -> str | None:
    """An element's text, whitespace collapsed as G2's pretty-printed listings need; None when empty."""
    if el is None:
        return None
    text = _SPACE.sub(" ", "".join(el.itertext())).strip()
    return text or None


def _code(el: etree._Element | None) -> str | None:
    """The code of a QCode (`stat:usable` -> "usable") or of a NewsCodes URI, lowercased."""
    if el is None:
        return None
    return _code_of(el.get("qcode") or el.get("uri"))


def _code_of(value: str | None) -> str | None:
    if not value:
        return None
    return re.split(r"[:/#]", value.strip().rstrip("/"))[-1].lower() or None


def _name(el: etree._Element | None, lang: str | None) -> str | None:
    """The element's `name` in the item's language when it has several, else the first."""
    if el is None:
        return None
    names = [(n.get(XML_LANG), _text(n)) for n in el.iterchildren(_g2("name"))]
    names = [(tag, text) for tag, text in names if text]
    if not names:
        return None
    if lang:  # the exact tag first, then the same language of another region ("en-GB" for "en-US")
        wanted, base = lang.lower(), lang.split("-")[0].lower()
        exact = [t for tag, t in names if tag and tag.lower() == wanted]
        near = [t for tag, t in names if tag and tag.split("-")[0].lower() == base]
        if exact or near:
            return (exact or near)[0]
    return names[0][1]


def _headline(item: etree._Element) -> str | None:
    """The main headline: one without a role or in the main role (`hld:main`) before a sub-headline."""
    heads = _children(item.find(_g2("contentMeta")), "headline")
    main = [h for h in heads if _code_of(h.get("role")) in (None, "main")]
    return next((t for t in map(_text, main or heads) if t), None)


def _description(meta: etree._Element | None, role: str, *, unmarked: bool = False) -> str | None:
    """The description in this role (`drol:caption`, `drol:summary`); with `unmarked`, one without a role too."""
    for d in _children(meta, "description"):
        if _code_of(d.get("role")) == role or (unmarked and d.get("role") is None):
            return _text(d)
    return None


def _language(meta: etree._Element | None) -> str | None:
    lang = _child(meta, "language")
    return (lang.get("tag") or None) if lang is not None else None


def _located(meta: etree._Element | None, lang: str | None) -> str | None:
    return next((n for n in (_name(el, lang) for el in _children(meta, "located")) if n), None)


def _subjects(meta: etree._Element | None, lang: str | None) -> tuple[str, ...]:
    out: list[str] = []
    for subject in _children(meta, "subject"):
        name = _name(subject, lang)
        if name and name not in out:
            out.append(name)
    return tuple(out)


def _html_or_none(text: str | None) -> str | None:
    return _text_as_html(text) if text else None


