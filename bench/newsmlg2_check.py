"""Does IPTC's `newsmlg2` package read the NewsML-G2 guideline listings as intake/newsml.py does?

    pip install newsmlg2 && python -m bench.newsmlg2_check [LISTINGS_DIR]

For each listing and each field our intake maps, what newsmlg2 reads next to what intake/newsml.py reads
(whose readings tests/unit/test_newsml.py asserts value by value). Prints a table and the differences;
asserts nothing. Kept as the evidence for docs/wire.md's choice of lxml by hand.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syndication.intake.newsml import parse_newsml
from syndication.intake.parse import ParseError
from syndication.kernel.domain import ParsedEntry

DEFAULT = Path(os.environ.get("SYNDICATION_SHARED_DIR") or "../shared") / "standards/iptc/newsml-g2/examples"


def _text(obj: Any) -> str | None:
    return getattr(obj, "_text", None) or None


def _theirs(item: Any) -> dict[str, Any]:
    """The fields as newsmlg2 gives them (its own whitespace collapsing; first of each repeated element)."""
    meta, cm = item.itemmeta, item.contentmeta
    rights = list(item.rightsinfo)
    holder = rights[0].copyrightholder if rights else None
    first: Callable[[Any], str | None] = lambda arr: next((_text(x) for x in arr), None)  # noqa: E731
    return {
        "guid": item.guid, "version": item.version, "item class": meta.itemclass.qcode,
        "pubStatus": (meta.pubstatus.qcode or "stat:usable").split(":")[-1],
        "versionCreated": _text(meta.versioncreated), "firstCreated": _text(meta.firstcreated),
        "embargoed": _text(meta.embargoed), "headline": first(cm.headline), "by": first(cm.by),
        "creditline": first(cm.creditline), "dateline": first(cm.dateline),
        "located": next((_text(n) for loc in cm.located for n in loc.name), None),
        "creators": tuple(_text(n) for c in cm.creator for n in list(c.name)[:1]),
        "infoSources": tuple(_text(n) for s in cm.infosource for n in list(s.name)[:1]),
        "copyrightHolder": (holder.literal or next((_text(n) for n in holder.name), None)) if holder else None,
        "copyrightNotice": first(rights[0].copyrightnotice) if rights else None,
        "usageTerms": first(rights[0].usageterms) if rights else None,
        "renditions": tuple(r.href for r in item.contentset.remotecontent),
    }


def _ours(entry: ParsedEntry, item_class: str | None) -> dict[str, Any]:
    w = entry.wire
    assert w is not None
    return {
        "guid": entry.guid, "version": w.version, "item class": item_class, "pubStatus": w.pubstatus,
        "versionCreated": entry.updated_raw, "firstCreated": entry.published_raw,
        "embargoed": entry.embargo_until.strftime("%Y-%m-%dT%H:%M:%SZ") if entry.embargo_until else None,
        "headline": entry.title, "by": w.byline, "creditline": w.credit_line, "dateline": w.dateline,
        "located": w.located, "creators": entry.authors, "infoSources": w.info_sources,
        "copyrightHolder": w.copyright_holder, "copyrightNotice": w.copyright_notice, "usageTerms": w.usage_terms,
        "renditions": tuple(i.url for i in w.images),
    }


def main(folder: Path) -> None:
    try:
        from NewsMLG2 import NewsMLG2Document  # lazy: optional, only this check needs it
    except ImportError:
        sys.exit("pip install newsmlg2 first (the package is only evaluated here, never a dependency)")
    rows = []
    for path in sorted(folder.glob("*.xml")):
        body = path.read_bytes()
        try:
            ours = [(e, None) for e in parse_newsml(body).entries]
        except ParseError as exc:
            ours, note = [], f"ours: {exc}"
        else:
            note = ""
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):  # it prints warnings about catalogs to stdout
                item = NewsMLG2Document(body).get_item()
        except Exception as exc:  # its own failures are the measurement
            rows.append((path.name, "-", f"newsmlg2 fails: {type(exc).__name__}: {exc}"[:110] + f"; {note}"))
            continue
        if type(item).__name__ == "NewsMessage":
            found = len(item.itemset._xs_any_content)  # its ItemSet keeps the items as raw lxml elements
            rows.append((path.name, f"items {found}/{len(ours)}", "newsMessage: items found, theirs/ours (theirs "
                         "as raw lxml elements, to be read one by one)"))
            continue
        theirs = _theirs(item)
        mine = _ours(ours[0][0], item.itemmeta.itemclass.qcode) if ours else {}
        differ = [k for k in theirs if mine.get(k) != theirs[k]]
        same = len(theirs) - len(differ)
        rows.append((path.name, f"{same}/{len(theirs)}", "; ".join(
            f"{k}: theirs {theirs[k]!r} ours {mine.get(k)!r}" for k in differ)[:300] or "all equal"))
    width = max(len(r[0]) for r in rows)
    for name, score, detail in rows:
        print(f"{name:<{width}}  {score:>10}  {detail}")
    sample = next(iter(sorted(folder.glob("LISTING_2_*.xml"))), None)
    if sample is not None:  # what reading costs, ours and theirs, on the text listing (median of 200)
        body = sample.read_bytes()
        with contextlib.redirect_stdout(io.StringIO()):
            ours_us, theirs_us = _median_us(lambda: parse_newsml(body)), _median_us(lambda: NewsMLG2Document(body))
        print(f"{sample.name}: intake/newsml.py {ours_us:.0f} µs, newsmlg2 {theirs_us:.0f} µs (median of 200)")


def _median_us(run: Callable[[], object], repeats: int = 200) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return sorted(times)[repeats // 2] * 1e6


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
