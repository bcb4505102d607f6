"""Text hygiene shared by every stage: NFC, XML-legal characters, whitespace, plain text from HTML."""

from __future__ import annotations

import html
import re
import unicodedata

import nh3

# Characters XML 1.0 forbids (lxml refuses them): C0 controls but tab/LF/CR, lone surrogates,
# U+FFFE/U+FFFF. Removed on the way in so publishing can never break on them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WS = re.compile(r"\s+")
_TEXT_ONLY = nh3.Cleaner(tags=set())  # built once: nh3.clean converts its options on every call


def xml_legal(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def clean_text(text: str | None) -> str:
    """NFC, XML-legal, single-spaced, trimmed."""
    if not text:
        return ""
    text = xml_legal(text)
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def plain_text(fragment: str | None) -> str:
    """HTML (or text that may carry tags and entities) -> plain text, entities decoded once."""
    if not fragment:
        return ""
    fragment = xml_legal(fragment)
    if "<" in fragment:
        # nh3 with no tags keeps the text and escapes it; unescape once to get plain text back.
        fragment = html.unescape(_TEXT_ONLY.clean(fragment))
    elif "&" in fragment:
        fragment = html.unescape(fragment)
    return clean_text(fragment)
