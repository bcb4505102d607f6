"""Bytes (+ response headers) -> ParsedFeed. Pure: no network, no files.

feedparser only ever gets bytes, with its sanitiser off (ours is nh3, later in the pipeline).
"""

from __future__ import annotations

import calendar
import io
import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from syndication.domain import Enclosure, ParsedEntry, ParsedFeed

# A DOCTYPE with or without an internal subset, anywhere before the root element. Removing it
# defuses entity expansion attacks (billion laughs) and external entities before any parser runs.
_DOCTYPE_RE = re.compile(rb"<!DOCTYPE(?:[^\[>]|\"[^\"]*\"|'[^']*')*(?:\[.*?\]\s*)?>", re.S | re.I)
_PROLOG_LIMIT = 1 << 20

JSON_TYPES = ("application/feed+json", "application/json")


class ParseError(Exception):
    """The document yields no items; the message says what came back."""


def strip_doctype(body: bytes) -> bytes:
    head = body[:_PROLOG_LIMIT]
    idx = head.upper().find(b"<!DOCTYPE")
    if idx < 0:
        return body
    match = _DOCTYPE_RE.search(body, idx)
    if match is None:
        # An unterminated DOCTYPE: cut from it to the first root element we can find.
        nxt = re.search(rb"<[A-Za-z]", body[idx + 9 :])
        return body[:idx] + (body[idx + 9 + nxt.start() :] if nxt else b"")
    return body[: match.start()] + body[match.end() :]


def describe_body(body: bytes, content_type: str | None, status: int | None = None) -> str:
    snippet = body[:60].decode("utf-8", "replace").replace("\n", " ").strip()
    parts = []
    if status is not None:
        parts.append(f"HTTP {status}")
    parts.append(f"content type {content_type or 'unknown'}")
    parts.append(f"{len(body)} bytes")
    parts.append(f"starting {snippet!r}" if snippet else "empty body")
    return ", ".join(parts)


def parse_document(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None
) -> ParsedFeed:
    """Parse an RSS, Atom or JSON Feed document; raise ParseError when it is not a feed at all."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    ctype = headers.get("content-type", "")
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError(f"not a feed: {describe_body(body, ctype or None)}")
    if stripped[:1] in (b"{", b"[") or any(t in ctype for t in JSON_TYPES):
        return parse_json_feed(body, ctype)
    return parse_xml_feed(body, headers, url)


def _struct_to_dt(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _first(*values: Any) -> Any:
    for v in values:
        if v:
            return v
    return None


def parse_xml_feed(body: bytes, headers: Mapping[str, str], url: str | None = None) -> ParsedFeed:
    clean = strip_doctype(body)
    resp_headers = dict(headers)
    if url:
        resp_headers.setdefault("content-location", url)
    resp_headers.setdefault("content-type", "text/xml")
    d = feedparser.parse(
        io.BytesIO(clean),
        response_headers=resp_headers,
        sanitize_html=False,
        resolve_relative_uris=True,
    )
    version = d.get("version") or ""
    problem: str | None = None
    if d.get("bozo"):
        exc = d.get("bozo_exception")
        problem = f"{exc.__class__.__name__}: {exc}" if exc is not None else "ill-formed document"
        if isinstance(exc, feedparser.CharacterEncodingOverride):
            problem = None  # recovered by feedparser; not worth flagging
    if not version and not d.entries:
        ctype = headers.get("content-type")
        reason = f"not a feed: {describe_body(body, ctype)}"
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
        parsed = feedparser._parse_date(value)  # RFC 822 and friends
        return _struct_to_dt(parsed)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_json_feed(body: bytes, ctype: str = "") -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc})") from None
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        items = doc["items"]
    else:
        raise ParseError("not a feed: JSON without an 'items' list")
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
    from html import escape

    return "".join(f"<p>{escape(p.strip())}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())
