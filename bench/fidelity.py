"""Fidelity of a fast parser against feedparser, field by field, and how many documents it takes.

    python -m bench fidelity [--candidate ours|fastfeedparser] [--corpus real|feedparser|both] [--examples N]
                             [--json]

Corpora (found through SYNDICATION_SHARED_DIR, else beside the checkout): the 112 real feeds of
`corpora/realfeeds.tar.xz` (served as bench.feedserver labels them: the Content-Type of their kind, no
charset) and feedparser's own 2,106 test documents under `corpora/feedparser/` (each with the response
headers its `Header:` comment names, else `text/xml`).

For each document the reference is what the service gets without the fast path:
`parse.parse_xml_feed(body, headers, url, fast=False)` (our charset decision and DOCTYPE stripping, then
feedparser with its sanitiser off). The candidate gets the same bytes after the same preparation:
- `ours`: `fastparse.try_parse` (None = it declines and the service falls back to feedparser);
- `fastfeedparser`: `fastfeedparser.parse`, its entries mapped onto ParsedEntry as an adapter would.

Every field of the feed (title, link, language, entry count) and of each entry (id, title, link,
published, updated and their text, authors, categories, content, summary, enclosures, language, base)
is compared. A difference is then compared again as the pipeline sees the field (titles as plain text,
HTML after our sanitiser against the entry's base, links after clean_url): "equal after normalisation"
means nothing stored or published differs. The report prints each class of difference with the documents and entries
it touches and an example; docs/feed-parsing.md justifies each class.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import tarfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPO
from syndication.intake import parse
from syndication.kernel.domain import Enclosure, ParsedEntry, ParsedFeed
from syndication.pipeline.sanitize import clean_url, sanitize_html
from syndication.pipeline.text import clean_text, plain_text

URL = "http://example.org/feeds/doc.xml"
ENTRY_FIELDS = ("guid", "title", "link", "published", "updated", "published_raw", "updated_raw", "authors",
                "categories", "content_html", "summary_html", "enclosures", "language", "base_url")
Document = tuple[str, bytes, dict[str, str]]
Candidate = Callable[[bytes, dict[str, str], str], ParsedFeed | None]


def shared_dir() -> Path | None:
    for root in [Path(d) for d in (os.environ.get("SYNDICATION_SHARED_DIR"),) if d] + [REPO.parent / "shared"]:
        if (root / "corpora").is_dir():
            return root / "corpora"
    return None


def real_documents(corpora: Path) -> Iterator[Document]:
    from bench.feedserver import content_type_of

    archive = corpora / "realfeeds.tar.xz"
    if not archive.is_file():
        return
    with tarfile.open(archive, "r:xz") as tar:
        for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            handle = tar.extractfile(member)
            if handle is None:
                continue
            body = handle.read()
            yield f"real/{Path(member.name).name}", body, {"content-type": content_type_of(body)}


_HEADER = re.compile(rb"^Header:\s*([\w-]+):\s*(.*?)\s*$", re.M)


def feedparser_documents(corpora: Path) -> Iterator[Document]:
    root = corpora / "feedparser"
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".rdf", ".atom", ".rss")):
        body = path.read_bytes()
        head = body[:2048]
        headers = {m.group(1).decode().lower(): m.group(2).decode("latin-1") for m in _HEADER.finditer(head)}
        headers.setdefault("content-type", "text/xml")
        yield f"feedparser/{path.relative_to(root)}", body, headers


def prepared(body: bytes, headers: dict[str, str]) -> bytes:
    """The bytes parse_xml_feed hands its fast path: UTF-8, every prolog DOCTYPE removed."""
    converted, _note = parse.to_utf8(body, headers.get("content-type"))
    return parse.strip_doctype(converted)


def ours(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed | None:
    from syndication.intake import fastparse

    # parse_xml_feed's base: the response's Content-Location, else the document's URL
    base = headers.get("content-location") or url
    return fastparse.try_parse(prepared(body, headers), base, headers.get("content-language"))


def fastfeedparser_candidate(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed | None:
    """fastfeedparser's result as an adapter would map it; None when it raises (the fallback)."""
    import fastfeedparser

    try:
        d = fastfeedparser.parse(prepared(body, headers))
    except Exception:
        return None
    feed = d.get("feed") or {}
    lang = feed.get("language") or None
    entries = []
    for e in d.get("entries") or ():
        content = None
        for c in e.get("content") or ():
            if c.get("value"):
                content = c["value"]
                break
        authors = tuple(dict.fromkeys(a["name"] for a in e.get("authors") or () if a.get("name"))) or (
            (e["author"],) if e.get("author") else ())
        enclosures = tuple(Enclosure(url=x.get("url") or x.get("href"), type=x.get("type") or None,
                                     length=int(x["length"]) if str(x.get("length") or "").isdigit() else None)
                           for x in e.get("enclosures") or () if x.get("url") or x.get("href"))
        entries.append(ParsedEntry(
            guid=e.get("id") or None, link=e.get("link") or None, title=e.get("title") or None,
            content_html=content, summary_html=e.get("description") or content,
            authors=authors,
            categories=tuple(dict.fromkeys(t.get("term") for t in e.get("tags") or () if t.get("term"))),
            published=_iso(e.get("published")), updated=_iso(e.get("updated")) or _iso(e.get("published")),
            language=lang, base_url=url, enclosures=enclosures,
        ))
    return ParsedFeed(title=feed.get("title") or None, link=feed.get("link") or None, language=lang,
                      entries=tuple(entries), format="atom" if "atom" in str(d.get("version", "")) else "rss")


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


CANDIDATES: dict[str, Candidate] = {"ours": ours, "fastfeedparser": fastfeedparser_candidate}


# ---------------------------------------------------------------- comparison


def _as_pipeline_sees(field: str, value: Any, entry: ParsedEntry) -> Any:
    base = entry.base_url or clean_url(entry.link, URL) or URL
    if value is None:
        return None
    if field == "title":
        return plain_text(value) or None
    if field in ("content_html", "summary_html"):
        return sanitize_html(value, base) or None
    if field == "link":
        return clean_url(value, entry.base_url or URL)
    if field == "guid":
        return clean_text(value) or None
    if field == "authors":
        return tuple(clean_text(a) for a in value)
    if field == "categories":
        return tuple(dict.fromkeys(clean_text(c) for c in value if clean_text(c)))
    if field == "enclosures":
        return tuple((clean_url(x.url, base), x.type, x.length) for x in value)
    if field == "base_url":
        return None  # only a base for the fields above, which are compared through it
    return value


def _canonical_html(html: str) -> str:
    """The same HTML whatever the order of each element's attributes (feedparser's URI resolver sorts them
    when it re-serialises; browsers and our sanitiser do not care)."""
    if "<" not in html:
        return html
    import lxml.html
    from lxml import etree

    try:
        parts = lxml.html.fragments_fromstring(html)
    except (etree.ParserError, ValueError):
        return html
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        for el in part.iter():
            if len(el.attrib) > 1:
                items = sorted(el.attrib.items())
                el.attrib.clear()
                el.attrib.update(items)
        out.append(etree.tostring(part, encoding="unicode", method="html"))
    return "".join(out)


MARKUP_LIKE = "markup-like text an HTML5 parser drops (feedparser escapes it)"
# Each class of difference docs/feed-parsing.md justifies, by the end of its name. Anything else is a bug
# of the fast path (tests/unit/test_fastparse.py fails on it).
JUSTIFIED = {
    "equal after normalisation": "the pipeline stores and publishes the same value",
    "differs (the body it resolves is equal after normalisation)":
        "base_url names the base feedparser resolved the body against (an xml:base inside the entry)",
    "whitespace only": "feedparser's re-serialisation drops some whitespace-only text between tags",
    "empty href/src (feedparser points it at the document, the sanitiser drops it)":
        "a link to the feed document itself is no link",
    "entity-encoded mailto: link (feedparser makes it a relative http link)":
        "feedparser's resolver does not decode the entities and makes a broken http URL",
    "malformed markup (feedparser's re-serialisation reads it otherwise than an HTML5 parser)":
        "we keep the partner's HTML as a browser's parser reads it",
    MARKUP_LIKE: "a browser would not show that text either",
}


def justified(cls: str) -> str | None:
    """Why a class of difference is acceptable; None when it is not."""
    return next((why for end, why in JUSTIFIED.items() if cls.endswith(end)), None)


def _html_class(ref: str | None, cand: str | None) -> str:
    """Which known way two sanitised bodies differ (docs/feed-parsing.md explains each)."""
    if not ref or not cand:
        return MARKUP_LIKE
    if _canonical_html(ref) == _canonical_html(cand):
        return "attribute order only (the content hash differs)"
    if " ".join(ref.split()) == " ".join(cand.split()):
        return "whitespace only"
    if f'="{URL}"' in ref and f'="{URL}"' not in cand:
        return "empty href/src (feedparser points it at the document, the sanitiser drops it)"
    if "/mailto:" in ref:
        return "entity-encoded mailto: link (feedparser makes it a relative http link)"
    return "malformed markup (feedparser's re-serialisation reads it otherwise than an HTML5 parser)"


def _kind(ref: Any, cand: Any) -> str:
    if ref in (None, (), "") and cand not in (None, (), ""):
        return "extra"
    if cand in (None, (), "") and ref not in (None, (), ""):
        return "missing"
    if isinstance(ref, str) and isinstance(cand, str) and " ".join(ref.split()) == " ".join(cand.split()):
        return "differs in whitespace"
    return "differs"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 90 else text[:87] + "..."


@dataclasses.dataclass
class Report:
    candidate: str
    documents: int = 0
    reference_feeds: int = 0  # documents feedparser reads as a feed
    taken: int = 0  # ... of which the candidate took
    taken_entries: int = 0
    reference_entries: int = 0
    equal_documents: int = 0  # taken, and every field equal as stored
    seconds_reference: float = 0.0
    seconds_candidate: float = 0.0
    classes: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    declined: dict[str, int] = dataclasses.field(default_factory=lambda: defaultdict(int))

    def note(self, cls: str, doc: str, example: str) -> None:
        c = self.classes.setdefault(cls, {"documents": set(), "entries": 0, "examples": []})
        c["documents"].add(doc)
        c["entries"] += 1
        if len(c["examples"]) < 3 and doc not in {e.split(":", 1)[0] for e in c["examples"]}:
            c["examples"].append(f"{doc}: {example}")


def compare(report: Report, doc: str, ref: ParsedFeed, cand: ParsedFeed) -> None:
    visible = False
    for fld in ("title", "link", "language"):
        r, c = getattr(ref, fld), getattr(cand, fld)
        if r != c:
            seen_r = plain_text(r) if fld == "title" else r
            seen_c = plain_text(c) if fld == "title" else c
            tail = "equal after normalisation" if seen_r == seen_c else _kind(r, c)
            if fld == "title" and seen_r != seen_c and not (seen_r and seen_c):
                tail = MARKUP_LIKE
            visible |= seen_r != seen_c
            report.note(f"feed {fld}: {tail}", doc, f"{_short(r)} vs {_short(c)}")
    if len(ref.entries) != len(cand.entries):
        visible = True
        report.note("entry count differs", doc, f"{len(ref.entries)} vs {len(cand.entries)}")
    for i, (re_, ce) in enumerate(zip(ref.entries, cand.entries, strict=False)):
        for fld in ENTRY_FIELDS:
            r, c = getattr(re_, fld), getattr(ce, fld)
            if r == c:
                continue
            seen_r, seen_c = _as_pipeline_sees(fld, r, re_), _as_pipeline_sees(fld, c, ce)
            if fld == "base_url":
                tail = "differs (the body it resolves is equal after normalisation)"
            elif seen_r == seen_c:
                tail = "equal after normalisation"
            else:
                tail = _kind(r, c)
                if fld in ("content_html", "summary_html") and tail == "differs":
                    tail = "differs after normalisation: " + _html_class(seen_r, seen_c)
                visible = True
            report.note(f"entry {fld}: {tail}", doc, f"#{i} {_short(r)} vs {_short(c)}")
    if not visible:
        report.equal_documents += 1


def run(candidate: str, documents: Iterator[Document]) -> Report:
    cand_fn = CANDIDATES[candidate]
    report = Report(candidate)
    for doc, body, headers in documents:
        report.documents += 1
        t = time.perf_counter()
        try:
            ref: ParsedFeed | None = parse.parse_xml_feed(body, headers, URL, fast=False)
        except parse.ParseError:
            ref = None
        report.seconds_reference += time.perf_counter() - t
        t = time.perf_counter()
        cand = cand_fn(body, headers, URL)
        report.seconds_candidate += time.perf_counter() - t
        if ref is None:
            if cand is not None and cand.entries:
                report.note("candidate finds entries where feedparser finds no feed", doc, f"{len(cand.entries)}")
            continue
        report.reference_feeds += 1
        report.reference_entries += len(ref.entries)
        if cand is None:
            report.declined[_decline_reason(body, headers) if candidate == "ours" else "raised"] += 1
            continue
        report.taken += 1
        report.taken_entries += len(cand.entries)
        if ref.problem:  # feedparser recovered an ill-formed document: the candidate should have declined
            report.note("taken although feedparser calls it ill-formed", doc, ref.problem[:80])
        compare(report, doc, ref, cand)
    return report


def _decline_reason(body: bytes, headers: dict[str, str]) -> str:
    """Why our fast path declined (its Unusual message, or the XML error's kind)."""
    from lxml import etree

    from syndication.intake import fastparse

    utf8 = prepared(body, headers)
    if b"<!ENTITY" in utf8:
        return "entity declaration"
    try:
        root = etree.fromstring(utf8, fastparse._PARSER)
    except etree.XMLSyntaxError:
        return "ill-formed XML"
    try:
        fastparse._Walk(URL, headers.get("content-language")).feed(root)
    except fastparse.Unusual as exc:
        return re.sub(r"\{[^}]*\}", "", str(exc))
    except Exception as exc:  # a bug: shown as such
        return f"error {exc.__class__.__name__}: {exc}"
    return "?"


def describe(report: Report, examples: int = 1) -> list[str]:
    ratio = report.seconds_reference / report.seconds_candidate if report.seconds_candidate else 0.0
    lines = [
        f"candidate {report.candidate}: {report.documents} documents, {report.reference_feeds} read as feeds by "
        f"feedparser ({report.reference_entries} entries)",
        f"  taken: {report.taken} of {report.reference_feeds} ({_pct(report.taken, report.reference_feeds)}), "
        f"{report.taken_entries} entries; equal as stored: {report.equal_documents} of {report.taken} taken",
        f"  time: feedparser path {report.seconds_reference:.2f} s, candidate {report.seconds_candidate:.2f} s "
        f"(declines included) = {ratio:.1f}x",
    ]
    if report.declined:
        lines.append("  declined (falls back to feedparser): " + ", ".join(
            f"{k} {v}" for k, v in sorted(report.declined.items(), key=lambda kv: -kv[1])))
    lines.append("  classes of difference (documents / entries):")
    if not report.classes:
        lines.append("    none")
    for cls, c in sorted(report.classes.items()):
        mark = "justified" if justified(cls) else "UNJUSTIFIED"
        lines.append(f"    {cls}: {len(c['documents'])} / {c['entries']} [{mark}]")
        for ex in c["examples"][:examples]:
            lines.append(f"        e.g. {ex}")
    return lines


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} %" if b else "-"


def as_json(report: Report) -> dict[str, Any]:
    d = dataclasses.asdict(report)
    d["classes"] = {k: {"documents": len(v["documents"]), "entries": v["entries"], "examples": v["examples"]}
                    for k, v in report.classes.items()}
    d["declined"] = dict(report.declined)
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench fidelity", description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--candidate", choices=tuple(CANDIDATES), default="ours")
    ap.add_argument("--corpus", choices=("real", "feedparser", "both"), default="both")
    ap.add_argument("--examples", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    corpora = shared_dir()
    if corpora is None:
        print("skipped: corpus absent")
        return 0
    results = {}
    for name, docs in (("real", real_documents), ("feedparser", feedparser_documents)):
        if args.corpus in (name, "both"):
            report = run(args.candidate, docs(corpora))
            results[name] = report
            if not args.json:
                print(f"== corpus {name}")
                for line in describe(report, args.examples):
                    print(line, flush=True)
    if args.json:
        print(json.dumps({k: as_json(v) for k, v in results.items()}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
