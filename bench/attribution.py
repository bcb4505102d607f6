"""Workload `attribution`: the labelled credit corpus scored, the real feeds' extractions listed, speed per item.

The corpus (tests/attribution/corpus/*.yaml) holds item bodies with the credits a news desk records, by kind
(agency, source, place, date, byline, photo), and negative texts where credit words are no credits. Each body
goes through the real normalisation (`normalise_entry`: sanitising, furniture, extraction) with a neutral
partner policy, and the item's `attribution.credits` are compared with the labels (case and punctuation
ignored, each label matched once). The same report is printed by tests/attribution/test_corpus.py.
"""

from __future__ import annotations

import re
import tarfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bench.common import REPO, median
from syndication.kernel.domain import Credit, NormalisedItem, ParsedEntry, PartnerPolicy
from syndication.pipeline.credits import KINDS
from syndication.pipeline.normalise import normalise_entry

CORPUS = REPO / "tests" / "attribution" / "corpus"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DESK = PartnerPolicy(id="desk", name="Desk", credit="Desk")


@dataclass(frozen=True, slots=True)
class Labelled:
    id: str
    body: str
    expect: dict[str, tuple[str, ...]]


@dataclass(slots=True)
class Score:
    positives: int = 0
    negatives: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # (item, kind, value)
    invented: list[tuple[str, str, str, str]] = field(default_factory=list)  # (item, kind, value, rule)
    on_negatives: list[tuple[str, str, str, str]] = field(default_factory=list)
    us_per_item: float = 0.0

    @property
    def recall(self) -> float:
        total = sum(self.expected.values())
        return sum(self.matched.values()) / total if total else 1.0

    @property
    def precision(self) -> float:
        total = sum(self.found.values())
        return sum(self.matched.values()) / total if total else 1.0


def load(directory: Path = CORPUS) -> tuple[list[Labelled], list[Labelled]]:
    """(positives, negatives): every *.yaml file but negatives.yaml holds labelled items."""
    positives: list[Labelled] = []
    negatives: list[Labelled] = []
    for path in sorted(directory.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or ():
            expect = {k: tuple(str(v) for v in vs) for k, vs in (raw.get("expect") or {}).items()}
            unknown = set(expect) - set(KINDS)
            if unknown:
                raise ValueError(f"{path.name}: {raw['id']}: unknown kind {sorted(unknown)}")
            item = Labelled(id=str(raw["id"]), body=str(raw["body"]), expect=expect)
            (negatives if path.stem == "negatives" else positives).append(item)
    ids = [i.id for i in (*positives, *negatives)]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    if dupes:
        raise ValueError(f"duplicate corpus ids: {dupes}")
    return positives, negatives


def key(value: str) -> str:
    return re.sub(r"[\W_]+", "", value.casefold())


def credits_of(body: str, policy: PartnerPolicy = DESK, entry: dict[str, Any] | None = None) -> tuple[Credit, ...]:
    item = normalise(body, policy, entry)
    return item.attribution.credits


def normalise(body: str, policy: PartnerPolicy = DESK, entry: dict[str, Any] | None = None) -> NormalisedItem:
    e = ParsedEntry(guid="x", link="https://desk.example/item", title="Item", content_html=body, summary_html=None,
                    **(entry or {}))
    out = normalise_entry(e, "k", policy, now=NOW)
    assert isinstance(out, NormalisedItem), out
    return out


def score(positives: Sequence[Labelled], negatives: Sequence[Labelled]) -> Score:
    s = Score(positives=len(positives), negatives=len(negatives))
    started = time.perf_counter()
    results = [(item, credits_of(item.body)) for item in (*positives, *negatives)]
    s.us_per_item = (time.perf_counter() - started) / max(1, len(results)) * 1e6
    for item, credits in results[: len(positives)]:
        for kind in KINDS:
            want = Counter(key(v) for v in item.expect.get(kind, ()))
            got = [c for c in credits if c.kind == kind]
            s.expected[kind] += sum(want.values())
            s.found[kind] += len(got)
            left = Counter(want)
            for c in got:
                k = key(c.value)
                if left[k] > 0:
                    left[k] -= 1
                    s.matched[kind] += 1
                else:
                    s.invented.append((item.id, kind, c.value, c.rule))
            shown = {key(v): v for v in item.expect.get(kind, ())}
            s.missed.extend((item.id, kind, shown[k]) for k, n in left.items() for _ in range(n))
    for item, credits in results[len(positives):]:
        s.on_negatives.extend((item.id, c.kind, c.value, c.rule) for c in credits)
    return s


def describe(s: Score) -> list[str]:
    lines = [
        f"attribution corpus: {s.positives} labelled items, {s.negatives} negative texts; "
        f"recall {s.recall:.1%} ({sum(s.matched.values())}/{sum(s.expected.values())}), "
        f"precision {s.precision:.1%} ({sum(s.matched.values())}/{sum(s.found.values())}), "
        f"{len(s.on_negatives)} credits on negatives; {s.us_per_item:.0f} µs per item (normalise_entry)",
        "  by kind: " + ", ".join(
            f"{k} {s.matched[k]}/{s.expected[k]} found {s.found[k]}" for k in KINDS
        ),
    ]
    lines += [f"  missed   {i}: {k} {v!r}" for i, k, v in s.missed]
    lines += [f"  invented {i}: {k} {v!r} ({r})" for i, k, v, r in s.invented]
    lines += [f"  NEGATIVE {i}: {k} {v!r} ({r})" for i, k, v, r in s.on_negatives]
    return lines


# ------------------------------------------------------------------------------------------ real feeds


def real_entries(archive: Path) -> Iterable[tuple[str, ParsedEntry]]:
    from syndication.intake.parse import ParseError, parse_document

    with tarfile.open(archive, "r:xz") as tar:
        for member in sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name):
            f = tar.extractfile(member)
            if f is None:
                continue
            try:
                feed = parse_document(f.read(), {"content-type": "application/xml"})
            except (ParseError, ValueError):
                continue
            for entry in feed.entries:
                yield Path(member.name).name, entry


def real_feeds(archive: Path) -> tuple[int, list[tuple[str, str, Credit]], float]:
    """(entries, every credit read as (feed, entry title, credit), µs per entry) over the real feeds."""
    found: list[tuple[str, str, Credit]] = []
    times: list[float] = []
    n = 0
    for feed, entry in real_entries(archive):
        t = time.perf_counter()
        out = normalise_entry(entry, "k", DESK, now=NOW)
        times.append(time.perf_counter() - t)
        n += 1
        if isinstance(out, NormalisedItem):
            found.extend((feed, out.title[:60], c) for c in out.attribution.credits)
    return n, found, (median(times) * 1e6 if times else 0.0)


def describe_real(n: int, found: Sequence[tuple[str, str, Credit]], us: float) -> list[str]:
    lines = [f"real feeds: {n} entries, {len(found)} credits read; median {us:.0f} µs per entry (normalise_entry)"]
    lines += [f"  {feed} | {title!r} | {c.kind} {c.value!r} ({c.rule}) from {c.line[:90]!r}"
              for feed, title, c in found]
    return lines


def seed_articles_us(n: int = 200, repeats: int = 5) -> float:
    """Best time per item of normalise_entry over the seed-shaped articles the ingest workload polls."""
    from bench.common import article

    entries = [
        ParsedEntry(guid=str(i), link=f"https://desk.example/{i}", title="T", content_html=article(i % 4, i).html,
                    summary_html=None)
        for i in range(n)
    ]
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for e in entries:
            normalise_entry(e, "k", DESK, now=NOW)
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def run(archive: Path | None) -> dict[str, Any]:
    positives, negatives = load()
    s = score(positives, negatives)
    seed_us = seed_articles_us()
    out: dict[str, Any] = {
        "recall": round(s.recall, 4), "precision": round(s.precision, 4), "on_negatives": len(s.on_negatives),
        "us_per_item": round(s.us_per_item, 1), "seed_article_us": round(seed_us, 1),
        "report": [*describe(s), f"  seed-shaped ingest articles: {seed_us:.0f} µs per item (normalise_entry)"],
    }
    if archive is not None:
        n, found, us = real_feeds(archive)
        out["real"] = {"entries": n, "credits": len(found), "median_us_per_entry": round(us, 1),
                       "report": describe_real(n, found, us)}
    return out
