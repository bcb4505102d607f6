"""The fast fingerprint paths equal their textbook definitions (stored SimHashes must not change)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from syndication.pipeline import dedupe

# Latin with accents, combining marks, Cyrillic, Hangul syllables, ligatures, full-width forms, ASCII.
_ALPHABET = st.one_of(
    st.characters(min_codepoint=32, max_codepoint=126),
    st.characters(min_codepoint=0xC0, max_codepoint=0x24F),
    st.characters(min_codepoint=0x300, max_codepoint=0x36F),
    st.characters(min_codepoint=0x400, max_codepoint=0x4FF),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0xFB00, max_codepoint=0xFB06),
    st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E),
)


@given(st.text(_ALPHABET, max_size=120))
@settings(max_examples=400)
def test_fold_equals_the_whole_string_definition(text: str) -> None:
    assert dedupe._fold(text) == dedupe._fold_reference(text)


@given(st.lists(st.text(_ALPHABET, min_size=1, max_size=8), max_size=120))
@settings(max_examples=200)
def test_simhash_equals_the_reference_loop(words: list[str]) -> None:
    assert dedupe.simhash(words) == dedupe.simhash_reference(words)


def test_accents_and_case_do_not_change_the_title_key() -> None:
    assert dedupe.title_key("UPDATE: Café in Bakü opens") == dedupe.title_key("cafe in baku opens")
