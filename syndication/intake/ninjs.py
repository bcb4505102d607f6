"""IPTC ninjs (News in JSON) 1.x, 2.x and 3.x bytes -> ParsedFeed. Pure: no network, no files.

A document is one ninjs item or `{"items": [...]}` of them. Each item is validated against the latest schema
of its major version (intake/wire_schemas.py, shipped in the package) before anything is read from it, so
the mapping below can trust the shapes the schema guarantees. The major version: `ninjs_major`.

What the item states as fields travels twice: in ParsedEntry's own fields (id, headline, body, dates,
embargo, status, subjects) for the common pipeline, and in `wire` (WireFields) for what attribution would
otherwise read from prose (byline, located place, rights, credits, info sources, photos).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from html import escape
from typing import Any

from jsonschema.exceptions import best_match

from syndication.intake.errors import ParseError, UnsupportedWireItem
from syndication.intake.wire_schemas import ninjs_schema, ninjs_validator
from syndication.kernel.domain import Enclosure, ImageCredit, ParsedEntry, ParsedFeed, WireFields

ACCEPTED_TYPES = ("text", "picture", "graphic", "composite")
PICTURE_TYPES = ("picture", "graphic")
_SCHEMA_VERSION = re.compile(r"ninjs-schema_(\d)")
# An editor's note that says the new version corrects the last one (English, German, Scandinavian, French,
# Spanish): the version is published as a correction rather than an update.
CORRECTION_NOTE = re.compile(r"\b(?:correct|korrig|berichtig|rättel|rettel|rectif)", re.I)
_BODY_TAG = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.I | re.S)
_DISTRIBUTOR_ROLES = ("distributor", "publisher")


def ninjs_major(doc: Mapping[str, Any]) -> int:
    """The major ninjs version (1, 2 or 3) an item is written in: the version a `standard` (2.x/3.x) or
    `$standard` (1.x) object names; else a property only a later version has (3.x's camelCase names, 2.x's
    `bodies`, `headlines`, `by`, `subjects`, ... or its arrays of associations and renditions); else 1.x,
    which carries no version marker."""
    if isinstance(doc.get("$standard"), dict):
        return 1
    marker = doc.get("standard")
    if isinstance(marker, dict):
        version = str(marker.get("version") or "")
        found = _SCHEMA_VERSION.search(str(marker.get("schema") or ""))
        major = version[:1] or (found.group(1) if found else "")
        if major in ("2", "3"):
            return int(major)
    keys = set(doc)
    if keys & _only_in(3):
        return 3
    if keys & _only_in(2) or any(isinstance(doc.get(k), list) for k in ("associations", "renditions")):
        return 2
    return 1


@cache
def _only_in(major: int) -> frozenset[str]:
    """The top-level property names of ninjs `major`'s schema that the major version before it lacks."""
    return frozenset(_properties(major) - _properties(major - 1))


def _properties(major: int) -> set[str]:
    schema = ninjs_schema(major)
    root = schema["$defs"]["ninjsType"] if "$defs" in schema else schema
    return set(root["properties"])


def parse_ninjs(body: bytes) -> ParsedFeed:
    """One ninjs item or `{"items": [...]}` -> ParsedFeed (format "ninjs"), one entry per item.

    Raises ParseError naming the item, the schema path and the problem for a document that is not valid
    ninjs, and UnsupportedWireItem for an item of a type we do not publish (audio, video, event, planning).
    """
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except RecursionError:
        raise ParseError("not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ParseError(f"not JSON: {str(exc)[:200]}") from None
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        raw_items: list[Any] = doc["items"]
        labels = [f"items[{i}]: " for i in range(len(raw_items))]
    else:
        raw_items, labels = [doc], [""]
    entries = []
    for raw, label in zip(raw_items, labels, strict=True):
        if not isinstance(raw, dict):
            raise ParseError(f"{label}a ninjs item must be a JSON object")
        entries.append(_item(raw, label))
    return ParsedFeed(title=None, link=None, language=None, entries=tuple(entries), format="ninjs")


def _item(raw: dict[str, Any], label: str) -> ParsedEntry:
    major = ninjs_major(raw)
    kind = raw.get("type")
    if isinstance(kind, str) and kind not in ACCEPTED_TYPES:
        raise UnsupportedWireItem(
            f"{label}ninjs item type {kind!r} is not accepted: we take text, picture and composite (package) "
            "items; audio, video, event and planning items are not published"
        )
    error = best_match(ninjs_validator(major).iter_errors(raw))
    if error is not None:
        path = "/" + "/".join(str(p) for p in error.absolute_path)
        raise ParseError(f"{label}ninjs {major}.x: {path}: {error.message}")
    for key in ("embargoed", "embargoedUntil"):
        # The schemas say `format: date-time`, an annotation IPTC's suites do not enforce (1.0 passes "Next
        # Monday"). An embargo we cannot read must not become "publish at once": refused. Other dates we cannot
        # read are set aside by normalisation with their text (pipeline/dates.py), as a feed's are.
        if key in raw and _date(raw[key]) is None:
            raise ParseError(f"{label}ninjs {major}.x: /{key}: {raw[key]!r} is not a 'date-time'")
    return item_to_entry(_lower_keys(raw), major)


def _lower_keys(value: Any) -> Any:
    """3.x's camelCase property names as 2.x spells them (`versionCreated` -> `versioncreated`), everywhere."""
    if isinstance(value, dict):
        return {k.lower() if isinstance(k, str) else k: _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


def item_to_entry(doc: Mapping[str, Any], major: int) -> ParsedEntry:
    """A valid ninjs item (keys lower-cased) -> ParsedEntry with its WireFields."""
    kind = _s(doc.get("type")) or "text"
    item_type = "picture" if kind in PICTURE_TYPES else kind
    pubstatus = _s(doc.get("pubstatus")) or "usable"
    version = _s(doc.get("version"))
    ednote = _s(doc.get("ednote"))
    byline = _s(doc.get("byline") if major == 1 else doc.get("by"))
    sources = _info_sources(doc.get("infosource") if major == 1 else doc.get("infosources"))
    distributor = next((name for name, role in sources if role.startswith(_DISTRIBUTOR_ROLES)), None)
    agency = next((name for name, role in sources if not role.startswith(_DISTRIBUTOR_ROLES)), None)
    usage, license_url = _rights(doc)
    caption = _description(doc, major)
    credit_line = _credit_line(doc, major)
    images: tuple[ImageCredit, ...]
    if item_type == "picture":
        own = _picture(doc, major)
        images = (own,) if own is not None else ()
    else:
        images = tuple(p for p in (_picture(a, major) for a in _associations(doc, major)) if p is not None)
    body = _body(doc, major)
    if item_type == "picture":
        body = _figure(images[0] if images else None, caption) or body
        summary = None
    else:
        summary = _text_html(caption) if caption else None
        figures = "".join(_figure(img, img.caption) for img in images if img.url)
        body = (body or "") + figures if figures else body
    title = _headline(doc, major) or _s(doc.get("title")) or _s(doc.get("slugline"))
    if not title and not body and not summary:
        # Nothing else names it (IPTC's schema needs only `uri`): its identifier keeps it from being refused.
        title = _s(doc.get("uri"))
    status = {"canceled": "withdrawn", "withheld": "withheld"}.get(pubstatus)
    corrected = version not in (None, "1") and ednote is not None and CORRECTION_NOTE.search(ednote)
    if status is None and corrected:
        status = "corrected"
    embargo_raw = _s(doc.get("embargoed") or doc.get("embargoeduntil"))
    pictures = [img for img in images if img.url]
    wire = WireFields(
        format=f"ninjs-{major}",
        item_type=item_type,
        version=version,
        pubstatus=pubstatus,
        byline=byline,
        credit_line=credit_line or (images[0].credit or None if item_type == "picture" and images else None),
        dateline=None,  # ninjs has no dateline field; `located` says where the story was filed
        located=_s(doc.get("located")),
        copyright_holder=_s(doc.get("copyrightholder")),
        copyright_notice=_s(doc.get("copyrightnotice")),
        usage_terms=usage,
        license_url=license_url,
        info_sources=tuple(name for name, _ in sources),
        images=images,
        distributor=distributor,
    )
    return ParsedEntry(
        guid=_s(doc.get("uri")),
        link=None,
        title=title,
        content_html=body,
        summary_html=summary,
        authors=(byline,) if byline else (),
        categories=_subjects(doc.get("subject") if major == 1 else doc.get("subjects")),
        published=_date(doc.get("firstcreated")),
        updated=_date(doc.get("versioncreated")),
        published_raw=_s(doc.get("firstcreated")),
        updated_raw=_s(doc.get("versioncreated")),
        language=_s(doc.get("language")),
        enclosures=tuple(Enclosure(url=img.url, type=_image_type(img.url)) for img in pictures if img.url),
        status=status,
        change_note=ednote if version not in (None, "1") else None,
        embargo_until=_date(embargo_raw),
        original_agency=agency,
        image_credit=images[0].credit or None if images and item_type != "picture" else None,
        wire=wire,
    )


# ---------------------------------------------------------------- fields


def _s(value: Any) -> str | None:
    """A non-empty string, trimmed; None for anything else (ninjs agencies send "" for "not stated")."""
    return value.strip() or None if isinstance(value, str) else None


def _date(value: Any) -> datetime | None:
    text = _s(value)
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None  # normalisation records the text it could not read (published_raw / updated_raw)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        return dt


def _role_value(entries: Any, roles: Iterable[str]) -> str | None:
    """From a 2.x/3.x `[{role, value}]` list: the first value of the first role named, else the first
    value without a role, else None."""
    items = [e for e in entries if isinstance(e, dict) and _s(e.get("value"))] if isinstance(entries, list) else []
    for role in roles:
        found = next((e for e in items if (_s(e.get("role")) or "").lower() == role), None)
        if found is not None:
            return _s(found.get("value"))
    unroled = next((e for e in items if not _s(e.get("role"))), None)
    return _s(unroled.get("value")) if unroled is not None else None


def _headline(doc: Mapping[str, Any], major: int) -> str | None:
    if major == 1:
        return _s(doc.get("headline"))
    headlines = doc.get("headlines")
    main = _role_value(headlines, ("main", "headline"))
    if main is None and isinstance(headlines, list):
        main = next((_s(h.get("value")) for h in headlines if isinstance(h, dict) and _s(h.get("value"))), None)
    return main


def _description(doc: Mapping[str, Any], major: int) -> str | None:
    """The item's description (a photo's caption, a story's summary) as text or HTML."""
    if major == 1:
        return next((_s(doc.get(k)) for k in ("description_html", "description_xhtml", "description_text")
                     if _s(doc.get(k))), None) or _first_prefixed(doc, "description_", skip=("creditline",))
    descriptions = doc.get("descriptions")
    if not isinstance(descriptions, list):
        return None
    usable = [d for d in descriptions if isinstance(d, dict) and (_s(d.get("role")) or "").lower() != "creditline"]
    return _role_value(usable, ("caption", "summary", "text", "abstract", "html")) or next(
        (_s(d.get("value")) for d in usable if _s(d.get("value"))), None)


def _credit_line(doc: Mapping[str, Any], major: int) -> str | None:
    if major == 1:
        return _s(doc.get("description_creditline"))
    descriptions = doc.get("descriptions")
    if not isinstance(descriptions, list):
        return None
    return next((_s(d.get("value")) for d in descriptions if isinstance(d, dict)
                 and (_s(d.get("role")) or "").lower() == "creditline" and _s(d.get("value"))), None)


def _first_prefixed(doc: Mapping[str, Any], prefix: str, skip: tuple[str, ...] = ()) -> str | None:
    for key, value in doc.items():
        if key.startswith(prefix) and key[len(prefix):] not in skip and _s(value):
            return _s(value)
    return None


def _body(doc: Mapping[str, Any], major: int) -> str | None:
    """The body as HTML: an HTML/XHTML body as given (the sanitiser runs later), a text body as paragraphs."""
    if major == 1:
        for key in ("body_html", "body_html5", "body_xhtml"):
            if _s(doc.get(key)):
                return _html_part(str(doc[key]))
        if _s(doc.get("body_text")):
            return _text_html(str(doc["body_text"]))
        other = _first_prefixed(doc, "body_")
        return _html_part(other) if other else None
    bodies = [b for b in doc.get("bodies") or () if isinstance(b, dict) and _s(b.get("value"))]
    if not bodies:
        return None

    def is_html(b: Mapping[str, Any]) -> bool:
        ctype = (_s(b.get("contenttype")) or "").lower()
        role = (_s(b.get("role")) or "").lower()
        return "html" in ctype or ("html" in role and not ctype) or "nitf" in ctype or role == "nitf"

    markup = next((b for b in bodies if is_html(b)), None)
    if markup is not None:
        return _html_part(str(markup["value"]))
    return _text_html(str(bodies[0]["value"]))


def _html_part(value: str) -> str:
    """A whole HTML document's <body> content; a fragment as it is."""
    found = _BODY_TAG.search(value)
    return found.group(1) if found else value


def _text_html(text: str) -> str:
    """Plain text as paragraphs: blank lines separate them; without any, each line is one."""
    if "<" in text and ">" in text:
        return text  # a description given as HTML
    parts = re.split(r"\n\s*\n", text) if re.search(r"\n\s*\n", text) else text.split("\n")
    return "".join(f"<p>{escape(p.strip())}</p>" for p in parts if p.strip())


def _subjects(subjects: Any) -> tuple[str, ...]:
    names: list[str] = []
    for s in subjects if isinstance(subjects, list) else ():
        name = _s(s.get("name")) if isinstance(s, dict) else None
        if name and name not in names:
            names.append(name)
    return tuple(names)


def _info_sources(sources: Any) -> list[tuple[str, str]]:
    """(name, role in lower case) of each named info source, in document order (1.x calls the role `rel`)."""
    out: list[tuple[str, str]] = []
    for s in sources if isinstance(sources, list) else ():
        if not isinstance(s, dict):
            continue
        name = _s(s.get("name")) or _s(s.get("literal"))
        if name:
            role = (_s(s.get("role")) or _s(s.get("rel")) or "").lower()
            out.append((name, role.rsplit("/", 1)[-1].rsplit(":", 1)[-1]))
    return out


def _rights(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(usage terms, licence URL): `usageterms`, else `rightsinfo.encodedrights`; `rightsinfo.linkedrights`."""
    info = doc.get("rightsinfo")
    info = info if isinstance(info, dict) else {}
    return _s(doc.get("usageterms")) or _s(info.get("encodedrights")), _s(info.get("linkedrights"))


def _associations(doc: Mapping[str, Any], major: int) -> list[Mapping[str, Any]]:
    """The associated items in document order (1.x: an object by name; 2.x/3.x: an array)."""
    assoc = doc.get("associations")
    if isinstance(assoc, dict):
        return [a for a in assoc.values() if isinstance(a, dict)]
    if isinstance(assoc, list):
        return [a for a in assoc if isinstance(a, dict)]
    return []


def _renditions(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    rend = doc.get("renditions")
    if isinstance(rend, dict):
        return [(str(k), v) for k, v in rend.items() if isinstance(v, dict)]
    if isinstance(rend, list):
        return [(str(r.get("name") or ""), r) for r in rend if isinstance(r, dict)]
    return []


def _best_rendition(doc: Mapping[str, Any]) -> str | None:
    """The rendition to show: one named main/preview/viewimage, else one titled a preview, else the first."""
    rends = [(name.lower(), r) for name, r in _renditions(doc) if _s(r.get("href"))]
    for wanted in ("main", "preview", "viewimage", "baseimage"):
        found = next((r for name, r in rends if name == wanted), None)
        if found is not None:
            return _s(found.get("href"))
    found = next((r for _, r in rends if "preview" in (_s(r.get("title")) or "").lower()), None)
    if found is not None:
        return _s(found.get("href"))
    return _s(rends[0][1].get("href")) if rends else None


def _picture(doc: Mapping[str, Any], major: int) -> ImageCredit | None:
    """An associated (or the item's own) photo with its credit: the credit line the document states, else its
    byline with the copyright holder ("Karl Melander/TT"); None for what is not a picture."""
    kind = _s(doc.get("type"))
    url = _best_rendition(doc)
    if kind not in PICTURE_TYPES and not (kind is None and url and _image_type(url)):
        return None
    by = _s(doc.get("byline") if major == 1 else doc.get("by"))
    holder = _s(doc.get("copyrightholder"))
    credit = _credit_line(doc, major)
    if credit is None:
        parts = [p for p in (by, holder) if p]
        if by and holder and holder.casefold() in by.casefold():
            parts = [by]
        credit = "/".join(parts)
    caption = _description(doc, major)
    return ImageCredit(credit=credit, caption=_plain(caption) if caption else None, url=url)


def _plain(text: str) -> str:
    return " ".join(re.sub(r"<[^>]*>", " ", text).split())


def _figure(image: ImageCredit | None, caption: str | None) -> str:
    if image is None or not image.url:
        return ""
    cap = f"<figcaption>{escape(_plain(caption))}</figcaption>" if caption else ""
    return f'<figure><img src="{escape(image.url)}" alt="{escape(_plain(caption or ""))}">{cap}</figure>'


def _image_type(url: str) -> str | None:
    ext = url.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower()
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
            "webp": "image/webp"}.get(ext)
