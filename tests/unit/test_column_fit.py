"""[hardening] 2: the pure fitting of polled values to our columns (pipeline/column_fit.py)."""

from __future__ import annotations

from syndication.pipeline.column_fit import LANGUAGE_LIMIT, cut_language, cut_text, fit_validators


def test_a_language_tag_keeps_the_whole_subtags_that_fit() -> None:
    assert cut_language("en-GB-" + "-".join(["abcdefgh"] * 10)) == "en-GB-abcdefgh-abcdefgh-abcdefgh"
    assert len(cut_language("az-Latn-" + "x1234567-" * 20) or "") <= LANGUAGE_LIMIT
    assert cut_language("x" * 40) is None  # not even the primary subtag fits: no language rather than a false one


def test_long_text_is_cut_at_a_word_and_marked() -> None:
    cut = cut_text("Agence " * 100, 300)
    assert len(cut) <= 300 and cut.endswith("Agence…")
    assert cut_text("A" * 400, 300) == "A" * 299 + "…"
    assert cut_text("short", 300) == "short"


def test_validators_over_their_columns_are_dropped_with_a_note() -> None:
    etag, modified, moved, notes = fit_validators('"' + "e" * 1001 + '"', "Fri, 27 Nov 2026 10:00:00 GMT", None)
    assert (etag, modified, moved) == (None, "Fri, 27 Nov 2026 10:00:00 GMT", None) and len(notes) == 1
    assert fit_validators('"v1"', None, "https://a.example/" + "p" * 2000)[2:] == (None, [
        "permanent redirect to a URL longer than 2000 characters not followed for later polls (the configured URL "
        "stays)"])
