"""Pure helpers of the harness: statistics, the machine description, and the synthetic partner content.

Everything here is deterministic (seeded) and free of I/O except `machine()`, so it is unit-tested.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import random
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), p in [0, 100]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    s = sorted(values)
    pos = (len(s) - 1) * p / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# ---------------------------------------------------------------- machine


def machine() -> dict[str, str | int]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "commit": git_commit(),
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---------------------------------------------------------------- synthetic partner content

PLACES = ("Baku", "Tbilisi", "Yerevan", "Ankara", "Tehran", "Astana", "Tashkent", "Bishkek", "Kyiv", "Chisinau")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
AGENCIES = ("Turan news agency", "Trend", "APA", "Interfax", "Reuters", "AFP", "Anadolu", "Kazinform")
SITES = ("commonspace.eu", "news.example", "caucasus.example", "region.example")
WORDS = (
    "government", "parliament", "minister", "talks", "energy", "pipeline", "border", "agreement", "election",
    "market", "currency", "gas", "oil", "region", "officials", "statement", "delegation", "summit", "security",
    "trade", "exports", "investment", "reform", "court", "opposition", "protest", "villagers", "harvest",
    "drought", "bridge", "railway", "port", "customs", "negotiators", "ceasefire", "monitors", "report",
)
BASE_DATE = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Article:
    guid: str
    link: str
    title: str
    html: str
    published: datetime
    author: str


_SYLLABLES = ("ba", "ko", "ri", "tan", "mel", "dor", "sha", "vin", "lu", "gre", "pol", "zan", "ter", "mi", "fa",
              "ques", "ro", "al", "en", "ir", "ste", "nov", "ka", "bur", "lin", "os", "mar", "de", "sul", "chi")


def _vocabulary(size: int = 6000) -> tuple[str, ...]:
    """The news words above plus made-up words: real articles draw on thousands of words, and a tiny
    vocabulary would make unrelated synthetic articles look like near-duplicates to story matching."""
    rng = random.Random(0)
    words, seen = list(WORDS), set(WORDS)
    while len(words) < size:
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return tuple(words)


VOCABULARY = _vocabulary()
# Zipf-like word frequencies (weight 1/rank), as in natural text.
_CUM_WEIGHTS = tuple(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))


def _sentence(rng: random.Random, n: int) -> str:
    words = rng.choices(VOCABULARY, cum_weights=_CUM_WEIGHTS, k=n)
    return words[0].capitalize() + " " + " ".join(words[1:]) + "."


def article(feed: int, item: int, seed: int = 1, body_bytes: int = 3000) -> Article:
    """One seed-shaped article: headline, dateline, ~3 KB HTML body, source and photo lines, furniture."""
    rng = random.Random(f"{seed}:{feed}:{item}")
    place = rng.choice(PLACES)
    published = BASE_DATE + timedelta(minutes=37 * item + feed)
    dateline = f"{place}, {published.day} {MONTHS[published.month - 1]}"
    paras = [f"<p>{dateline} – {_sentence(rng, 18)}</p>"]
    size = len(paras[0])
    while size < body_bytes:
        p = f"<p>{_sentence(rng, 14)} {_sentence(rng, 12)} <a href=\"/news/{rng.randrange(10**6)}\">More</a>.</p>"
        paras.append(p)
        size += len(p)
    agency = rng.choice(AGENCIES)
    site = rng.choice(SITES)
    paras.append(f"<p>source: {site} with {agency}, {place}.</p>")
    paras.append(f"<p>photo: {_sentence(rng, 6)} (picture courtesy of contact.az)</p>")
    paras.append(
        "<h3>Related articles</h3><ul>"
        + "".join(f"<li><a href=\"/news/{rng.randrange(10**6)}\">{_sentence(rng, 5)}</a></li>" for _ in range(3))
        + "</ul><h3>Editor's choice</h3><ul>"
        + f"<li><a href=\"/news/{rng.randrange(10**6)}\">{_sentence(rng, 6)}</a></li></ul>"
        "<h3>Popular</h3><ul>"
        + f"<li><a href=\"/news/{rng.randrange(10**6)}\">{_sentence(rng, 6)}</a></li></ul>"
    )
    return Article(
        guid=f"agency{feed}-{item}",
        link=f"https://agency{feed}.example/news/{item}",
        title=_sentence(rng, 8).rstrip("."),
        html="".join(paras),
        published=published,
        author=f"Reporter {rng.randrange(50)}",
    )


def rss_feed(feed: int, items: int, seed: int = 1, body_bytes: int = 3000) -> bytes:
    """An RSS 2.0 document of `items` articles for partner number `feed`."""
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Agency {feed}</title><link>https://agency{feed}.example/</link>"
        f"<description>News from agency {feed}</description><language>en</language>"
    ]
    for i in range(items):
        a = article(feed, i, seed, body_bytes)
        out.append(
            f"<item><title>{escape(a.title)}</title><link>{a.link}</link>"
            f'<guid isPermaLink="false">{a.guid}</guid><pubDate>{format_datetime(a.published)}</pubDate>'
            f"<dc:creator>{escape(a.author)}</dc:creator><category>news</category>"
            f"<description>{escape(a.html)}</description></item>"
        )
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def rss_feed_of_size(target_bytes: int, seed: int = 1) -> tuple[bytes, int]:
    """An RSS document of about `target_bytes` (one partner); returns (bytes, item count)."""
    one = len(rss_feed(0, 1, seed))
    items = max(1, target_bytes // max(1, one - 250))
    body = rss_feed(0, items, seed)
    while len(body) < target_bytes:
        items += max(1, (target_bytes - len(body)) // (one - 250) + 1)
        body = rss_feed(0, items, seed)
    return body, items
