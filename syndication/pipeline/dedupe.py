"""Story fingerprints and the duplicate decision. Pure.

Exact duplicates: the same canonical URL, or the same normalised body text (hash).
Near duplicates: the same story reworded by another carrier: the same normalised title with bodies
whose 64-bit SimHash (over word 3-shingles) is within `TITLE_MATCH_DISTANCE` bits, or any title with
bodies within `BODY_MATCH_DISTANCE` bits; always within a time window (72 h by default).

Each shingle is hashed with XXH3-64 (xxhash): a third of blake2b's cost, and a SimHash needs a well-mixed
64-bit hash, not a cryptographic one. Fingerprints stored with the earlier blake2b SimHash were recomputed
by migration 0023_raw_dates.

SimHash is written here (about 20 lines) rather than taken from a library: the maintained options are
either MinHash/LSH index libraries sized for millions of documents (datasketch) or unmaintained
simhash packages; one 64-bit fingerprint per item stored in a column is all we need.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import xxhash

from syndication.pipeline.text import sanitised_text

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
    """Case- and accent-folded text: casefold, NFKD, combining marks dropped (ASCII text only needs
    casefolding).

    Done per distinct character rather than over the whole string: NFKD decomposes character by
    character and only reorders combining marks, which are dropped, so the result is the same as
    `_fold_reference` at a sixth of the cost on news text (a handful of distinct non-ASCII characters)."""
    text = text.casefold()
    if text.isascii():
        return text
    for ch in set(text):
        if not ch.isascii():
            folded = _fold_char(ch)
            if folded != ch:
                text = text.replace(ch, folded)
    return text


@functools.lru_cache(maxsize=65_536)
def _fold_char(ch: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))


def _fold_reference(text: str) -> str:
    """The whole-string definition `_fold` is tested against."""
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def body_words(html: str) -> list[str]:
    """The folded words of a sanitised body (sanitize_html's output: every body stored or fingerprinted is)."""
    return [w.decode() for w in _body_words_utf8(html)]


def _body_words_reference(html: str) -> list[str]:
    """The definition `body_words` is tested against: the text's runs of word characters once folded."""
    return _NON_WORD.sub(" ", _fold(sanitised_text(html))).split()


# Every ASCII byte that is not a word character (`\w`: alphanumeric or "_") -> a space; the bytes of UTF-8
# sequences (>= 0x80) stay: by then every non-ASCII character left is a word character (`_word_fold`).
_ASCII = bytes(range(0x80))
_ASCII_NON_WORD_TO_SPACE = bytes(b if b >= 0x80 or chr(b).isalnum() or b == ord("_") else ord(" ") for b in range(256))


def _body_words_utf8(html: str) -> list[bytes]:
    """`body_words`, UTF-8 encoded, as the fingerprints hash them.

    A word is a run of word characters of the folded text (what `_NON_WORD.sub(" ", ...).split()` keeps), so the
    text is folded and its non-word characters turned into spaces in the same pass per distinct non-ASCII character
    (`_word_fold`); the ASCII ones by one `bytes.translate`, and `bytes.split` cuts the words. The whitespace is not
    collapsed first (`collapse=False`): a whitespace character folds to non-word characters, never to nothing (tested
    for every one), so the words are the same. Tested equal to `_body_words_reference`."""
    text = sanitised_text(html, collapse=False).casefold()
    if not text.isascii():
        # The distinct non-ASCII characters, found in C: a few dozen in a body of thousands (`set(text)` would make
        # a string of each character on the way).
        others = text.encode("utf-8", "surrogatepass").translate(None, _ASCII).decode("utf-8", "surrogatepass")
        for ch in set(others):
            mapped = _word_fold(ch)
            if mapped != ch:
                text = text.replace(ch, mapped)
    # No surrogate is left to refuse: not a word character, so `_word_fold` made it a space.
    return text.encode().translate(_ASCII_NON_WORD_TO_SPACE).split()


@functools.lru_cache(maxsize=65_536)
def _word_fold(ch: str) -> str:
    """`_fold_char`, with every non-word character of the result a space. Replacing one distinct character after
    another gives the same text as mapping them all at once because a folded character folds to itself."""
    return "".join(c if c.isalnum() or c == "_" else " " for c in _fold_char(ch))


def body_hash(words: list[str]) -> str | None:
    if len(words) < MIN_BODY_WORDS:
        return None
    return hashlib.sha256(" ".join(words).encode("utf-8", "surrogatepass")).hexdigest()


def simhash(words: list[str], shingle: int = SHINGLE) -> int | None:
    """64-bit SimHash (Charikar) over word shingles; None for bodies too short to say anything.

    Bit b is set when more than half of the shingle hashes have it set. The hashes are laid end to end in
    one integer and the 64 counts are taken by whole-integer operations (`_majority`) instead of a Python
    loop per shingle: same result as `simhash_reference`."""
    if len(words) < MIN_BODY_WORDS:
        return None
    return _simhash_utf8([w.encode("utf-8", "surrogatepass") for w in words], shingle)


def _simhash_utf8(words: list[bytes], shingle: int = SHINGLE) -> int:
    """`simhash` of UTF-8 encoded words (at least MIN_BODY_WORDS). UTF-8 encodes a joined text as the join of its
    encoded words, so each shingle's bytes are those `simhash_reference` hashes. The shingles are joined, hashed and
    laid end to end by `map`s: no Python bytecode runs per shingle."""
    grams = map(b" ".join, zip(*(words[i:] for i in range(shingle)), strict=False))
    hashes = b"".join(map(xxhash.xxh3_64_digest, grams))
    return _majority(int.from_bytes(hashes, "big"), len(words) - shingle + 1)


def _majority(hashes: int, n: int) -> int:
    """The 64 bits set in more than half of the `n` 64-bit words laid end to end in `hashes`.

    A vertical counter: `planes[j]` holds bit j of every column's count. Each round adds the top half of the
    words to the bottom half, plane by plane with a ripple carry (a zero word pads an odd count), so the
    counts are summed in log2(n) rounds of a few integer operations each, and the comparison with n // 2 is
    done on all 64 columns at once, from the counts' top bit down. Six times the byte-column counting it
    replaces on news bodies."""
    planes = [hashes]
    words = n
    while words > 1:
        half = (words + 1) >> 1
        shift = half << 6
        low_half = (1 << shift) - 1
        carry = 0
        summed = []
        for plane in planes:
            high, low = plane >> shift, plane & low_half
            partial = high ^ low
            summed.append(partial ^ carry)
            carry = (high & low) | (carry & partial)
        summed.append(carry)
        planes, words = summed, half
    threshold = n >> 1
    above, equal = 0, (1 << 64) - 1
    for j in range(max(len(planes), threshold.bit_length()) - 1, -1, -1):
        plane = planes[j] if j < len(planes) else 0
        if threshold >> j & 1:
            equal &= plane
        else:
            above |= equal & plane
            equal &= ~plane
    return above


def simhash_reference(words: list[str], shingle: int = SHINGLE) -> int | None:
    """The textbook loop, kept as the specification `simhash` is tested against."""
    if len(words) < MIN_BODY_WORDS:
        return None
    weights = [0] * 64
    for i in range(len(words) - shingle + 1):
        gram = " ".join(words[i : i + shingle]).encode("utf-8", "surrogatepass")
        h = xxhash.xxh3_64_intdigest(gram)
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
    """`body_hash` and `simhash` of `body_words(html)`, from the words as UTF-8 (both hash bytes: each word is
    encoded once, and the body hash's text is `b" ".join` of them)."""
    words = _body_words_utf8(html)
    if len(words) < MIN_BODY_WORDS:
        return Fingerprint(url, title_key(title), None, None, published, len(words))
    digest = hashlib.sha256(b" ".join(words)).hexdigest()
    return Fingerprint(url, title_key(title), digest, _simhash_utf8(words), published, len(words))


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
