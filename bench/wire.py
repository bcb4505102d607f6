"""`python -m bench wire`: what ninjs intake costs per item, against the libraries' own ceiling.

IPTC's ninjs examples that are text, picture or package items (the shared corpus, else one inline item),
repeated with distinct `uri`s into one `{"items": [...]}` document. Timed, each the median of the repeats:
`json.loads` of the document (the floor), jsonschema validation of every item against its major version's
schema (the library's share), our `parse_ninjs` (decode, version, validation, mapping) and `normalise_feed`
over its entries (sanitising, credits, the wire mapping). Figures only; nothing is asserted.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.real import corpus_archive
from syndication.intake.ninjs import ninjs_major, parse_ninjs
from syndication.intake.wire_schemas import ninjs_validator
from syndication.kernel.domain import PartnerPolicy
from syndication.pipeline.normalise import normalise_feed

FALLBACK = {"uri": "urn:bench:1", "type": "text", "version": "1", "headlines": [{"role": "main", "value": "Bench"}],
            "bodies": [{"contenttype": "text/html", "value": "<p>BAKU, 4 November – A bench item.</p>"}],
            "by": "Jane Doe", "copyrightholder": "Bench Agency", "located": "Baku"}


def shared_dir() -> Path | None:
    """The corpus (a parent of corpora/realfeeds.tar.xz: SYNDICATION_SHARED_DIR, else beside the checkout)."""
    archive = corpus_archive()
    return archive.parent.parent if archive is not None else None


def examples(shared: Path | None) -> list[dict[str, Any]]:
    folder = (shared / "standards" / "iptc" / "ninjs" / "examples") if shared else None
    if folder is None or not folder.is_dir():
        return [FALLBACK]
    docs = [json.loads(p.read_bytes()) for p in sorted(folder.glob("*/*.json"))]
    return [d for d in docs if d.get("type", "text") in ("text", "picture", "graphic", "composite")]


def _median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run(shared: Path | None, items: int = 1000, repeats: int = 3) -> dict[str, Any]:
    base = examples(shared)
    docs = [{**base[i % len(base)], "uri": f"{base[i % len(base)]['uri']}#{i}"} for i in range(items)]
    body = json.dumps({"items": docs}).encode("utf-8")
    policy = PartnerPolicy(id="bench", name="Bench", credit="Bench", copyright="© {year} {credit}")
    now = datetime.now(UTC)
    feed = parse_ninjs(body)  # warm: schemas loaded, validators built

    def validate() -> None:
        for d in json.loads(body)["items"]:
            ninjs_validator(ninjs_major(d)).is_valid(d)

    loads = _median_s(lambda: json.loads(body), repeats)
    schema = _median_s(validate, repeats)
    parse = _median_s(lambda: parse_ninjs(body), repeats)
    normalise = _median_s(lambda: normalise_feed(feed, policy, now=now), repeats)

    def per_item_ms(seconds: float) -> float:
        return round(seconds / items * 1000, 3)

    r: dict[str, Any] = {
        "items": items, "bytes": len(body), "distinct_examples": len(base),
        "json_loads_ms_per_item": per_item_ms(loads), "jsonschema_ms_per_item": per_item_ms(schema),
        "parse_ninjs_ms_per_item": per_item_ms(parse), "normalise_ms_per_item": per_item_ms(normalise),
        "parse_items_per_s": round(items / parse),
        "parse_and_normalise_items_per_s": round(items / (parse + normalise)),
    }
    r["report"] = [
        f"wire (ninjs intake, {items} items of {len(base)} IPTC examples, {len(body)} bytes): parse_ninjs "
        f"{r['parse_ninjs_ms_per_item']} ms/item ({r['parse_items_per_s']} items/s), of which jsonschema "
        f"{r['jsonschema_ms_per_item']} ms and json.loads {r['json_loads_ms_per_item']} ms; normalise "
        f"{r['normalise_ms_per_item']} ms/item; both {r['parse_and_normalise_items_per_s']} items/s",
    ]
    return r
