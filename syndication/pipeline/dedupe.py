"""Story fingerprints and the duplicate decision. Pure.

Exact duplicates: the same canonical URL, or the same normalised body text (hash).
Near duplicates: the same story reworded by another carrier: the same normalised title with bodies
whose 64-bit SimHash (over word 3-shingles) is within `TITLE_MATCH_DISTANCE` bits, or any title with
bodies within `BODY_MATCH_DISTANCE` bits; always within a time window (72 h by default).

SimHash is written here (about 20 lines) rather than taken from a library: the maintained options are
either MinHash/LSH index libraries sized for millions of documents (datasketch) or unmaintained
simhash packages; one 64-bit fingerprint per item stored in a column is all we need.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from syndication.pipeline.text import plain_text

WINDOW = timedelta(hours=72)
SHINGLE = 3
TITLE_MATCH_DISTANCE = 24  # same title: bodies may be reworded heavily (one agency story, two edits)
SIMILAR_TITLE_DISTANCE = 20  # titles sharing most words (Jaccard >= SIMILAR_TITLE): bodies fairly close
SIMILAR_TITLE = 0.6
BODY_MATCH_DISTANCE = 10  # different titles: bodies must be nearly the same text
MIN_BODY_WORDS = 25  # below this a body hash or SimHash says nothing about the story
MIN_TITLE_WORDS = 4

_PREFIX = re.compile(r"^\s*(?:update[sd]?|correction|corrected|urgent|breaking|exclusive|video|photos?)\s*[:\-–—]\s*",
                     re.I)
_NON_WORD = re.compile(r"[^\w\s]+")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    url: str | None
    title_key: str
    body_hash: str | None
    simhash: int | None
    published: datetime
    words: int


def title_key(title: str) -> str:
    """Lower-case, accents folded, punctuation and workflow prefixes ("UPDATE:") removed."""
    t = _fold(_PREFIX.sub("", title or ""))
    return " ".join(_NON_WORD.sub(" ", t).split())


def _fold(text: str) -> str:
    """Case- and accent-folded text (ASCII text only needs casefolding)."""
    text = text.casefold()
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def body_words(html: str) -> list[str]:
    return _NON_WORD.sub(" ", _fold(plain_text(html))).split()


def body_hash(words: list[str]) -> str | None:
    if len(words) < MIN_BODY_WORDS:
        return None
    return hashlib.sha256(" ".join(words).encode("utf-8", "surrogatepass")).hexdigest()


def simhash(words: list[str], shingle: int = SHINGLE) -> int | None:
    """64-bit SimHash (Charikar) over word shingles; None for bodies too short to say anything.

    Bit b is set when more than half of the shingle hashes have it set. The per-bit counts are kept
    bit-sliced (plane j holds bit j of every position's count), so adding one hash costs a few big-int
    operations instead of a 64-step Python loop (≈5× faster than the textbook loop, same result)."""
    if len(words) < MIN_BODY_WORDS:
        return None
    planes: list[int] = []
    blake = hashlib.blake2b
    n = len(words) - shingle + 1
    for i in range(n):
        gram = " ".join(words[i : i + shingle]).encode("utf-8", "surrogatepass")
        carry = int.from_bytes(blake(gram, digest_size=8).digest(), "big")
        j = 0
        while carry:  # ripple-carry add of the 64 one-bit values into the counters
            if j == len(planes):
                planes.append(carry)
                break
            plane = planes[j]
            planes[j] = plane ^ carry
            carry &= plane
            j += 1
    out = 0
    for bit in range(64):
        count = 0
        for j, plane in enumerate(planes):
            count |= (plane >> bit & 1) << j
        if 2 * count > n:
            out |= 1 << bit
    return out


def simhash_reference(words: list[str], shingle: int = SHINGLE) -> int | None:
    """The textbook loop, kept as the specification `simhash` is tested against."""
    if len(words) < MIN_BODY_WORDS:
        return None
    weights = [0] * 64
    for i in range(len(words) - shingle + 1):
        gram = " ".join(words[i : i + shingle]).encode("utf-8", "surrogatepass")
        h = int.from_bytes(hashlib.blake2b(gram, digest_size=8).digest(), "big")
        for bit in range(64):
            weights[bit] += 1 if h >> bit & 1 else -1
    return sum(1 << bit for bit in range(64) if weights[bit] > 0)


def title_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two titles' word sets (0..1)."""
    wa, wb = set(a.split()), set(b.split())
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def fingerprint(url: str | None, title: str, html: str, published: datetime) -> Fingerprint:
    words = body_words(html)
    return Fingerprint(url, title_key(title), body_hash(words), simhash(words), published, len(words))


def to_signed(value: int | None) -> int | None:
    """Store an unsigned 64-bit SimHash in a signed BIGINT column."""
    return None if value is None else value - (1 << 64) if value >= 1 << 63 else value


def from_signed(value: int | None) -> int | None:
    return None if value is None else value + (1 << 64) if value < 0 else value


def duplicate_reason(a: Fingerprint, b: Fingerprint, window: timedelta = WINDOW) -> str | None:
    """Why `a` and `b` are the same story ("url", "body", "title+simhash", "similar-title+simhash",
    "simhash"), or None."""
    if a.url and b.url and a.url == b.url:
        return "url"
    if abs(a.published - b.published) > window:
        return None
    if a.body_hash and a.body_hash == b.body_hash:
        return "body"
    if a.simhash is None or b.simhash is None:
        return None
    distance = hamming(a.simhash, b.simhash)
    if a.title_key == b.title_key and len(a.title_key.split()) >= MIN_TITLE_WORDS and distance <= TITLE_MATCH_DISTANCE:
        return "title+simhash"
    if distance <= SIMILAR_TITLE_DISTANCE and title_similarity(a.title_key, b.title_key) >= SIMILAR_TITLE:
        return "similar-title+simhash"
    if distance <= BODY_MATCH_DISTANCE:
        return "simhash"
    return None
