"""Bytes (+ response headers) -> ParsedFeed. Pure: no network, no files.

feedparser only ever gets bytes, with its sanitiser off (ours is nh3, later in the pipeline).
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

import feedparser

# Private: feedparser has no public date parser, and this is the one its parse() uses; pinned by feedparser<7
# in pyproject.toml and tested in tests/unit/test_private_apis.py.
from feedparser.datetimes import _parse_date

from syndication.intake.errors import ParseError
from syndication.intake.errors import UnsupportedWireItem as UnsupportedWireItem  # re-exported for callers
from syndication.intake.fastparse import _struct_to_dt, try_parse
from syndication.intake.ninjs import parse_ninjs
from syndication.kernel.domain import Enclosure, ParsedEntry, ParsedFeed

# A DOCTYPE with or without an internal subset. Removing every one defuses entity expansion attacks
# (billion laughs, also on one line) and external entities before any parser runs. The alternatives are
# disjoint (no quote or bracket in the plain-character classes), so a hostile DOCTYPE cannot make the
# regex backtrack.
_DOCTYPE_RE = re.compile(
    rb"<!DOCTYPE(?:[^\[>\"']|\"[^\"]*\"|'[^']*')*(?:\[(?:[^\]\"']|\"[^\"]*\"|'[^']*')*\]\s*)?>", re.I
)
_DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.I)
_ROOT_START = re.compile(rb"<[A-Za-z_]")

JSON_TYPES = ("application/feed+json", "application/json")
# Root elements of feed formats: an empty but well-formed one is a feed with no entries, not "not a feed".
FEED_ROOTS = ("rss", "feed", "rdf:rdf", "channel")


NINJS_TYPE = "application/ninjs+json"
# A ninjs item sent as plain JSON looks like a JSON document without items: say how it is read as ninjs.
NINJS_HINT = ("a ninjs item? it is read as ninjs when sent or served as application/ninjs+json, or dropped as "
              "*.ninjs.json")


def strip_doctype(body: bytes) -> bytes:
    """Remove every DOCTYPE declaration (with its internal subset) from the prolog, before the root element.

    The prolog is walked token by token (whitespace, comments, processing instructions, DOCTYPEs), so a
    DOCTYPE hidden after a comment is found, and text that only looks like one inside the document (e.g. in
    a CDATA section) is left alone. A DOCTYPE after the root element is ill-formed and the strict parser
    refuses it; the fallback parser never expands declared entities.
    """
    return _walk_prolog(body)[0]


_PROLOG_WS = re.compile(rb"[\s\x00]*")  # NULs: UTF-16/32 prologs are walked on the converted bytes anyway
_PROLOG_LIMIT = 1 << 20


def _walk_prolog(body: bytes) -> tuple[bytes, bytes | None]:
    """(body without prolog DOCTYPEs, the root element's name or None)."""
    out: list[bytes] = []
    keep_from = 0
    pos = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    limit = min(len(body), _PROLOG_LIMIT)
    while pos < limit:  # every step below moves pos forward or leaves the loop
        pos = _PROLOG_WS.match(body, pos).end()  # type: ignore[union-attr]
        if pos >= limit:
            break
        if body.startswith(b"<?", pos):
            end = body.find(b"?>", pos + 2)
            pos = len(body) if end < 0 else end + 2
            continue
        if body.startswith(b"<!--", pos):
            end = body.find(b"-->", pos + 4)
            pos = len(body) if end < 0 else end + 3
            continue
        if _DOCTYPE_START.match(body, pos):
            out.append(body[keep_from:pos])
            match = _DOCTYPE_RE.match(body, pos)
            if match is not None:
                pos = match.end()
            else:  # unterminated: cut to the first element after it
                nxt = _ROOT_START.search(body, pos + 9)
                pos = nxt.start() if nxt else len(body)
            keep_from = pos
            continue
        break
    root = None
    m = re.compile(rb"<([A-Za-z_][\w:.-]*)").match(body, pos)
    if m:
        root = m.group(1)
    if not out:
        return body, root
    out.append(body[keep_from:])
    return b"".join(out), root


# ---------------------------------------------------------------- character encoding

_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
# XML 1.0 Appendix F: the first bytes of a document without a BOM tell the encoding family.
_SNIFF = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']", re.S)
_XML_DECL_ANY = re.compile(r"^\s*<\?xml[^>]*?\?>", re.S)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]{1,40})", re.I)
# Characters XML 1.0 forbids; they break the strict parser and are never content.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SINGLE_BYTE = ("iso8859", "latin", "cp125", "ascii", "windows-125", "us-ascii", "cp1252", "mac-roman")


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def declared_encodings(body: bytes, content_type: str | None) -> tuple[str | None, str | None, str | None]:
    """(BOM, Content-Type charset, XML declaration) encodings of a document, each None when absent."""
    bom = next((enc for mark, enc in _BOMS if body.startswith(mark)), None)
    header = None
    if content_type:
        m = _CHARSET.search(content_type)
        header = m.group(1) if m else None
    decl = None
    head = body[len(next((mk for mk, e in _BOMS if e == bom), b"")):][:1024] if bom else body[:1024]
    family = bom or next((enc for mark, enc in _SNIFF if head.startswith(mark)), None)
    if family and family.startswith(("utf-16", "utf-32")):
        head = head.decode(family, "ignore").encode("ascii", "ignore")
    dm = _XML_DECL.match(head)
    if dm:
        decl = dm.group(1).decode("ascii")
    elif family and not bom:
        decl = family
    return bom, header, decl


def decode_xml(body: bytes, content_type: str | None = None) -> tuple[str, str, str | None]:
    """Decode an XML document: (text, encoding used, note when the declared encodings were wrong).

    Order (XML 1.0 Appendix F with RFC 7303): a byte order mark wins; then the Content-Type charset; then
    the XML declaration; then UTF-8. A declaration that does not decode the bytes is skipped; a single-byte
    charset declared for bytes that are valid multi-byte UTF-8 is taken to be a lie (UTF-8 is used). When
    nothing fits, windows-1252 with replacement characters keeps the text readable.
    """
    bom, header, decl = declared_encodings(body, content_type)
    if bom:
        mark = next(mk for mk, e in _BOMS if e == bom)
        return body[len(mark):].decode(bom, "replace"), bom, None
    sniffed = next((enc for mark, enc in _SNIFF if body.startswith(mark)), None)
    if sniffed:  # no BOM, but the first bytes are "<?" in UTF-16/32: that family and byte order decide
        return body.decode(sniffed, "replace"), sniffed, None
    declared = [c for c in (_codec(header), _codec(decl)) if c]
    unknown = [n for n, c in ((header, _codec(header)), (decl, _codec(decl))) if n and not c]
    candidates: list[str] = []
    for c in (*declared, "utf-8"):
        if c not in candidates:
            candidates.append(c)
    is_ascii = body.isascii()
    for enc in candidates:
        if not is_ascii and enc != "utf-8" and enc.replace("_", "-").startswith(_SINGLE_BYTE):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                return text, "utf-8", f"declared {enc} but the bytes are UTF-8"
        try:
            text = body.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        note = None
        if declared and enc != declared[0]:
            where = _undecodable(body, 0, declared[0])
            note = f"declared {declared[0]} does not decode the document" + (f" ({where})" if where else "") + (
                f"; used {enc}")
        elif unknown:
            note = f"unknown encoding {unknown[0]!r}; used {enc}"
        return text, enc, note
    first = (declared or ["utf-8"])[0]
    where = _undecodable(body, 0, first)
    return body.decode("cp1252", "replace"), "cp1252", (
        f"declared {first} does not decode the document" + (f" ({where})" if where else "") + "; used windows-1252"
    )


def _undecodable(body: bytes, start: int, encoding: str) -> str | None:
    """Where the bytes after `start` stop being `encoding`: "byte 0xFF at offset N, reason"; None if they are."""
    try:
        body[start:].decode(encoding)
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        return f"byte 0x{body[offset]:02X} at offset {offset}, {exc.reason}"
    return None


def encoding_problem(body: bytes, content_type: str | None = None) -> str | None:
    """Why an XML document's bytes are not in the encoding it declares, naming the first bad byte's offset
    (0-based, in the body as sent); None when they are. For documents we can refuse (a push); a polled
    document is decoded anyway (`decode_xml`), with the same complaint noted.

    The declaration that counts is the one decode_xml follows: byte order mark, else the Content-Type
    charset, else the XML declaration, else UTF-8 (XML's default). As there, a single-byte charset
    declared for bytes that are valid UTF-8 is no problem: they are read as UTF-8."""
    bom, header, decl = declared_encodings(body, content_type)
    start = 0
    if bom:
        start = len(next(mk for mk, e in _BOMS if e == bom))
        name, by = bom, "its byte order mark"
    elif (sniffed := next((enc for mark, enc in _SNIFF if body.startswith(mark)), None)) is not None:
        name, by = sniffed, "its first bytes"
    elif header:
        name, by = header, "the Content-Type charset"
    elif decl:
        name, by = decl, "its XML declaration"
    else:
        name, by = "utf-8", "default (no declaration)"
    codec = _codec(name)
    if codec is None:
        return f"the encoding {name!r} declared by {by} is not one we know; send UTF-8"
    where = _undecodable(body, start, codec)
    if where is None:
        return None
    if codec.replace("_", "-").startswith(_SINGLE_BYTE) and _undecodable(body, 0, "utf-8") is None:
        return None
    return (f"the document is declared {name} ({by}) but is not valid {name}: {where}; send it in the encoding "
            "it declares (UTF-8 preferred)")


def json_encoding_problem(body: bytes) -> str | None:
    """JSON is UTF-8 (RFC 8259; a byte order mark is tolerated): the first byte that is not, by offset."""
    start = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    where = _undecodable(body, start, "utf-8")
    return None if where is None else f"JSON must be UTF-8, and this body is not: {where}"


def to_utf8(body: bytes, content_type: str | None = None) -> tuple[bytes, str | None]:
    """The document re-encoded as UTF-8 (declaration rewritten, XML-illegal characters removed), and a note."""
    text, _enc, note = decode_xml(body, content_type)
    text = _XML_ILLEGAL.sub("", text)
    text = _XML_DECL_ANY.sub('<?xml version="1.0" encoding="utf-8"?>', text, count=1)
    return text.encode("utf-8", "replace"), note


def describe_body(body: bytes, content_type: str | None, status: int | None = None) -> str:
    """What came back, for an error: status, content type, size and the first bytes (as text when text)."""
    head = body[:60]
    text: str | None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text; anything else is binary.
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 and len(body) > 60 else None
    snippet = " ".join(text.split()) if text is not None else None
    binary = snippet is None or any(not ch.isprintable() for ch in snippet)
    shown = repr(head) if binary else repr(snippet)
    parts = []
    if status is not None:
        parts.append(f"HTTP {status}")
    parts.append(f"content type {content_type or 'unknown'}")
    parts.append(f"{len(body)} bytes")
    parts.append(f"starting {shown}" if body.strip() else "empty body")
    return ", ".join(parts)


def parse_document(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None, *, status: int | None = None
) -> ParsedFeed:
    """Parse an RSS, Atom or JSON Feed document, or ninjs served as such; raise ParseError when it is not a feed
    at all.

    intake/documents.py's read_document puts NewsML-G2 (recognised by its root element) in front of this."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    ctype = headers.get("content-type", "")
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError(f"not a feed: {describe_body(body, ctype or None, status)}")
    if NINJS_TYPE in ctype.lower():
        return parse_ninjs(body)
    if stripped[:1] in (b"{", b"[") or any(t in ctype for t in JSON_TYPES):
        return parse_json_feed(body, ctype, status=status)
    return parse_xml_feed(body, headers, url, status=status)


def parse_xml_feed(
    body: bytes, headers: Mapping[str, str], url: str | None = None, *, status: int | None = None,
    fast: bool = True,
) -> ParsedFeed:
    """RSS/Atom/RDF bytes -> ParsedFeed. Our charset decision and DOCTYPE stripping run before feedparser."""
    ctype = headers.get("content-type")
    converted, charset_note = to_utf8(body, ctype)
    utf8, root = _walk_prolog(converted)
    resp_headers = {k: v for k, v in headers.items() if k in ("content-location", "content-language")}
    if url:
        resp_headers.setdefault("content-location", url)
    if fast:  # plain, well-formed RSS 2.0 / Atom 1.0 via lxml; None = anything else, feedparser decides
        quick = try_parse(utf8, resp_headers.get("content-location"), resp_headers.get("content-language"))
        if quick is not None:
            return dataclasses.replace(quick, encoding_note=charset_note) if charset_note else quick
    # The bytes are UTF-8 now, whatever the partner declared; feedparser must not second-guess that.
    resp_headers["content-type"] = "application/xml; charset=utf-8"
    try:
        d = feedparser.parse(
            io.BytesIO(utf8),
            response_headers=resp_headers,
            sanitize_html=False,
            resolve_relative_uris=True,
        )
    except Exception as err:  # feedparser's own bugs must not escape as crashes
        described = describe_body(body, ctype, status)
        raise ParseError(f"parser failed: {err.__class__.__name__}: {err} ({described})") from None
    version = d.get("version") or ""
    problem: str | None = None
    if d.get("bozo"):
        exc = d.get("bozo_exception")
        problem = f"{exc.__class__.__name__}: {exc}" if exc is not None else "ill-formed document"
        if isinstance(exc, feedparser.CharacterEncodingOverride):
            problem = None  # recovered by feedparser; not worth flagging
    root_name = (root or b"").decode("ascii", "replace").lower()
    if not version and not d.entries and root_name in FEED_ROOTS and not problem:
        version = "cdf" if root_name == "channel" else root_name  # a well-formed feed with no entries yet
    if not version and not d.entries:
        reason = f"not a feed: {describe_body(body, ctype, status)}"
        if problem:
            reason += f" ({problem})"
        raise ParseError(reason)
    feed = d.feed
    feed_lang = feed.get("language") or None
    entries = tuple(_entry(e, feed_lang) for e in d.entries)
    fmt = "atom" if version.startswith("atom") else "rss" if version.startswith("rss") else (version or "xml")
    return ParsedFeed(
        title=feed.get("title") or None,
        link=feed.get("link") or None,
        language=feed_lang,
        entries=entries,
        format=fmt,
        problem=problem,
        encoding_note=charset_note,
    )


def _entry(e: Any, feed_lang: str | None) -> ParsedEntry:
    content = None
    for c in e.get("content") or ():
        if c.get("value"):
            content = c.get("value")
            if "html" in (c.get("type") or ""):
                break
    summary = e.get("summary") or None
    authors: list[str] = []
    for a in e.get("authors") or ():
        name = a.get("name") or a.get("email")
        if name and name not in authors:
            authors.append(name)
    if not authors and e.get("author"):
        authors.append(e["author"])
    categories = []
    for t in e.get("tags") or ():
        term = t.get("term") or t.get("label")
        if term and term not in categories:
            categories.append(term)
    enclosures = []
    for link in e.get("links") or ():
        if link.get("rel") == "enclosure" and link.get("href"):
            length = link.get("length")
            enclosures.append(
                Enclosure(
                    url=link["href"],
                    type=link.get("type") or None,
                    length=int(length) if str(length or "").isdigit() else None,
                )
            )
    base = None
    detail = e.get("title_detail") or e.get("summary_detail")
    if detail is not None:
        base = detail.get("base") or None
    lang = None
    if e.get("content"):
        lang = e["content"][0].get("language")
    if not lang and detail is not None:
        lang = detail.get("language")
    return ParsedEntry(
        guid=e.get("id") or None,
        link=e.get("link") or None,
        title=e.get("title") or None,
        content_html=content,
        summary_html=summary,
        authors=tuple(authors),
        categories=tuple(categories),
        published=_struct_to_dt(e.get("published_parsed")),
        updated=_struct_to_dt(e.get("updated_parsed")),
        published_raw=_str(e.get("published")),
        updated_raw=_str(e.get("updated")),
        language=lang or feed_lang,
        base_url=base,
        enclosures=tuple(enclosures),
    )


def _parse_dt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        parsed = _parse_date(value)  # RFC 822 and friends
        return _struct_to_dt(parsed)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00: kept as written, normalisation sets it aside
        return dt


def parse_json_feed(body: bytes, ctype: str = "", *, status: int | None = None) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc}; {describe_body(body, ctype or None, status)})") from None
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        items = doc["items"]
    else:
        hint = f"; {NINJS_HINT}" if isinstance(doc, dict) and "uri" in doc else ""
        raise ParseError(f"not a feed: JSON without an 'items' list ({describe_body(body, ctype or None, status)})"
                         + hint)
    lang = doc.get("language") if isinstance(doc.get("language"), str) else None
    entries = []
    for raw in items:
        if isinstance(raw, dict):
            entries.append(json_item_to_entry(raw, lang))
    fmt = "json" if str(doc.get("version", "")).startswith("https://jsonfeed.org/") else "json-items"
    return ParsedFeed(
        title=doc.get("title") if isinstance(doc.get("title"), str) else None,
        link=doc.get("home_page_url") if isinstance(doc.get("home_page_url"), str) else None,
        language=lang,
        entries=tuple(entries),
        format=fmt,
    )


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None


def json_item_to_entry(raw: dict[str, Any], feed_lang: str | None = None) -> ParsedEntry:
    """A JSON Feed item (or a push API item, same fields) -> ParsedEntry."""
    authors: list[str] = []
    for a in raw.get("authors") or ([raw["author"]] if isinstance(raw.get("author"), dict) else []):
        if isinstance(a, dict) and _str(a.get("name")):
            authors.append(str(a["name"]))
    tags = tuple(str(t) for t in raw.get("tags") or () if isinstance(t, (str, int)))
    ext_raw = raw.get("_syndication")
    ext: dict[str, Any] = ext_raw if isinstance(ext_raw, dict) else {}
    enclosures = []
    for att in raw.get("attachments") or ():
        if isinstance(att, dict) and _str(att.get("url")):
            size = att.get("size_in_bytes")
            enclosures.append(
                Enclosure(
                    url=str(att["url"]),
                    type=_str(att.get("mime_type")),
                    length=size if isinstance(size, int) else None,
                )
            )
    if _str(raw.get("image")):
        enclosures.append(Enclosure(url=str(raw["image"]), type="image/*"))
    return ParsedEntry(
        guid=_str(raw.get("id")),
        link=_str(raw.get("url")) or _str(raw.get("external_url")),
        title=_str(raw.get("title")),
        content_html=_str(raw.get("content_html")) or _text_as_html(_str(raw.get("content_text"))),
        summary_html=_str(raw.get("summary")),
        authors=tuple(authors),
        categories=tags,
        published=_parse_dt(raw.get("date_published")),
        updated=_parse_dt(raw.get("date_modified")),
        published_raw=_str(raw.get("date_published")),
        updated_raw=_str(raw.get("date_modified")),
        language=_str(raw.get("language")) or feed_lang,
        enclosures=tuple(enclosures),
        status=_str(ext.get("status")),
        change_note=_str(ext.get("change_note")),
        embargo_until=_parse_dt(ext.get("embargo_until")),
        original_agency=_str(ext.get("original_agency")),
        image_credit=_str(ext.get("image_credit")),
    )


def _text_as_html(text: str | None) -> str | None:
    if text is None:
        return None
    return "".join(f"<p>{escape(p.strip())}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())
