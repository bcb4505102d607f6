"""Workload `pipeline`: the per-item pure work over the real feeds, without I/O.

Every document of `shared/corpora/realfeeds.tar.xz` is parsed once (`parse_document`, untimed); then
`normalise_feed` runs over all of them (keys, sanitising, furniture and credit extraction, dates,
fingerprints), each feed with a neutral partner policy, a few rounds, best round kept, in CPU time
(`time.process_time`: the machine is shared, wall time moves with the neighbours' load). One more round
is run with timers around the stages normalise calls (sanitising, extraction, fingerprints, the rest),
to say where a round goes. Figures are printed, never asserted.

`python -m bench pipeline [--quick]` (--quick: the first 10 feeds). Also printed: a digest of every
output (`outputs`), so two trees can be compared for "same outputs" by eye. The per-item digests are kept
in tests/fixtures/real_pipeline_digests.json, which tests/integration/test_real_pipeline.py compares with;
after a deliberate change of outputs, `python -m bench.pipeline --record` rewrites them.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from syndication.kernel.domain import NormalisedItem, ParsedFeed, PartnerPolicy

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real_pipeline_digests.json"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = PartnerPolicy(id="desk", name="Desk", credit="Desk")
# The stages timed in the instrumented round: (module, function) as normalise.py calls them.
STAGES = (
    ("normalise", "sanitize_html", "sanitising"),
    ("normalise", "extract", "furniture + credits"),
    ("normalise", "strip_selected", "furniture selectors"),
    ("normalise", "fingerprint", "fingerprints"),
    ("normalise", "_entry_dates", "dates"),
    ("normalise", "assign_keys", "keys"),
)


def parsed_feeds(archive: Path, limit: int | None = None) -> list[tuple[str, ParsedFeed]]:
    """Every document of the archive parsed once, sorted by name (the first `limit`)."""
    # lazy: the parser's imports are not part of what this workload times
    from bench.feedserver import content_type_of
    from syndication.intake.parse import ParseError, parse_document

    out: list[tuple[str, ParsedFeed]] = []
    with tarfile.open(archive, "r:xz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)[:limit]
        for member in members:
            f = tar.extractfile(member)
            if f is None:
                continue
            body = f.read()
            try:
                feed = parse_document(body, {"content-type": content_type_of(body)},
                                      f"http://127.0.0.1/{Path(member.name).name}")
            except (ParseError, ValueError):
                continue
            out.append((Path(member.name).name, feed))
    return out


def normalise_all(feeds: list[tuple[str, ParsedFeed]]) -> list[tuple[str, list[NormalisedItem]]]:
    from syndication.pipeline.normalise import normalise_feed  # lazy: the pipeline's modules load on first use

    return [(name, normalise_feed(feed, POLICY, now=NOW, document_url=f"http://127.0.0.1/{name}")[0])
            for name, feed in feeds]


def item_digest(item: NormalisedItem) -> str:
    """A digest of what the per-item work decides: the body, what was read from it, the fingerprints."""
    a = item.attribution
    fields = (
        item.key, item.title, item.content_html, item.authors, item.content_hash, item.title_key, item.body_hash,
        item.simhash, a.credits, a.distributing_source, a.original_agency, a.dateline_place, a.dateline_date,
        a.dateline_agency, a.source_place, a.image_credits, a.extracted, a.extracted_from,
    )
    return hashlib.sha256(repr(fields).encode("utf-8", "surrogatepass")).hexdigest()[:12]


def digests(results: list[tuple[str, list[NormalisedItem]]]) -> dict[str, list[str]]:
    """Per feed, each item's digest in document order."""
    return {name: [item_digest(i) for i in items] for name, items in results}


def outputs_digest(results: list[tuple[str, list[NormalisedItem]]]) -> str:
    """One digest of every item's digest."""
    return hashlib.sha256(repr(sorted(digests(results).items())).encode()).hexdigest()[:16]


@contextmanager
def stage_timers() -> Iterator[dict[str, float]]:
    """Wrap the stage functions in normalise's namespace with CPU timers for the duration."""
    import syndication.pipeline.normalise as normalise  # lazy: the pipeline's modules load on first use

    spent: dict[str, float] = {label: 0.0 for _, _, label in STAGES}
    saved: dict[str, Callable[..., Any]] = {}

    def timed(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - t

        return wrapper

    for _, fname, label in STAGES:
        saved[fname] = getattr(normalise, fname)
        setattr(normalise, fname, timed(saved[fname], label))
    try:
        yield spent
    finally:
        for fname, fn in saved.items():
            setattr(normalise, fname, fn)


def pipeline(archive: Path | None, quick: bool, rounds: int = 3) -> dict[str, Any]:
    if archive is None:
        return {"skipped": "corpus absent"}
    feeds = parsed_feeds(archive, 10 if quick else None)
    entries = sum(len(f.entries) for _, f in feeds)
    results = normalise_all(feeds)  # warm-up: caches, lazy imports
    best = float("inf")
    for _ in range(rounds):
        t = time.process_time()
        normalise_all(feeds)
        best = min(best, time.process_time() - t)
    with stage_timers() as spent:
        t = time.process_time()
        normalise_all(feeds)
        total = time.process_time() - t
    stages = {label: round(s, 4) for label, s in spent.items()}
    stages["the rest of normalising"] = round(total - sum(spent.values()), 4)
    return {
        "feeds": len(feeds), "entries": entries, "items": sum(len(i) for _, i in results),
        "seconds": round(best, 4), "us_per_entry": round(best / max(1, entries) * 1e6, 1),
        "instrumented_seconds": round(total, 4), "stages": stages, "outputs": outputs_digest(results),
    }


def record(archive: Path, path: Path) -> None:
    """Write the digests the corpus test compares with (after a deliberate change of outputs)."""
    found = digests(normalise_all(parsed_feeds(archive)))
    path.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(found.items())) + "\n}\n")


def describe(r: dict[str, Any]) -> list[str]:
    if "skipped" in r:
        return [f"  pipeline: skipped: {r['skipped']}"]
    total = sum(r["stages"].values()) or 1.0
    lines = [f"  pipeline: {r['feeds']} real feeds, {r['entries']} entries, {r['items']} items: normalise_feed "
             f"{r['seconds']:.3f} s CPU (best round), {r['us_per_entry']:.0f} µs per entry; outputs {r['outputs']}"]
    lines += [f"    {label:<24} {s:7.3f} s  {100 * s / total:5.1f} %" for label, s in r["stages"].items()]
    return lines


if __name__ == "__main__":
    import sys  # lazy: only the --record command needs them

    from bench import real  # lazy: only the --record command needs them

    found = real.corpus_archive()
    if sys.argv[1:] != ["--record"] or found is None:
        sys.exit("usage: python -m bench.pipeline --record   (needs shared/corpora/realfeeds.tar.xz)")
    record(found, FIXTURE)
    print(f"wrote {FIXTURE}")
