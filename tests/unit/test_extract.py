"""Credit-line extraction and page furniture: table tests on realistic variants (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndication.kernel.domain import ImageCredit
from syndication.pipeline.attribute import (
    Dateline,
    FurnitureRules,
    SourceLine,
    extract,
    match_byline,
    match_dateline,
    match_photo_line,
    match_source_line,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("source: commonspace.eu with Turan news agency, Baku.",
         SourceLine("commonspace.eu", "Turan news agency", "Baku")),
        ("SOURCE: Turan news agency, Baku", SourceLine("Turan news agency", None, "Baku")),
        ("Source: Caspian Wire with Trend news agency, Baku", SourceLine("Caspian Wire", "Trend news agency", "Baku")),
        ("SOURCE: APA with Trend news agency, Baku", SourceLine("APA", "Trend news agency", "Baku")),
        ("Source: commonspace.eu with agencies.", SourceLine("commonspace.eu", None, None)),
        ("Source: commonspace.eu", SourceLine("commonspace.eu", None, None)),
        ("Source: Turan with APA-Sport, Baku.", SourceLine("Turan", "APA-Sport", "Baku")),
        ("Sources - Reuters and AFP", SourceLine("Reuters", "AFP", None)),
        ("via: Report.az citing Trend, Baku;", SourceLine("Report.az", "Trend", "Baku")),
        ("Source : AFP avec Reuters, Paris.", SourceLine("AFP", "Reuters", "Paris")),
        ("Источник: ТАСС, Москва", SourceLine("ТАСС", None, "Москва")),
        ("Источник: Sputnik со ссылкой на Интерфакс, Москва.", SourceLine("Sputnik", "Интерфакс", "Москва")),
        ("Mənbə: APA", SourceLine("APA", None, None)),
        ("mənbə — Report ilə Turan, Bakı", SourceLine("Report", "Turan", "Bakı")),
        ("Kaynak: Anadolu Ajansı, Ankara", SourceLine("Anadolu Ajansı", None, "Ankara")),
    ],
)
def test_source_line_variants(line: str, expected: SourceLine) -> None:
    assert match_source_line(line) == expected


@pytest.mark.parametrize(
    "line",
    ["The source said nothing.", "Sources close to the ministry confirmed the talks", "Source:", "source: agencies"],
)
def test_not_a_source_line(line: str) -> None:
    assert match_source_line(line) is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("photo: Oil workers at the Sangachal terminal (picture courtesy of contact.az)",
         ImageCredit("contact.az", "Oil workers at the Sangachal terminal")),
        # The credit written as a bare bracket at the end was once taken as the whole caption+credit.
        ("Photo credit: Exposed seabed near the Absheron coast (Trend)",
         ImageCredit("Trend", "Exposed seabed near the Absheron coast")),
        ("Photo: A Ro-Ro ferry loading rail wagons at the Port of Baku in Alat (Turan)",
         ImageCredit("Turan", "A Ro-Ro ferry loading rail wagons at the Port of Baku in Alat")),
        ("Picture: Cranes at the new hub in Aktau (courtesy of the port authority)",
         ImageCredit("the port authority", "Cranes at the new hub in Aktau")),
        ("PHOTO: Snowploughs near Khinalig, Guba district (courtesy of the Ministry of Emergency Situations).",
         ImageCredit("the Ministry of Emergency Situations", "Snowploughs near Khinalig, Guba district")),
        ("picture: A container train [courtesy Georgian Railway]",
         ImageCredit("Georgian Railway", "A container train")),
        ("Photo: Protesters in Tbilisi (photo: AFP)", ImageCredit("AFP", "Protesters in Tbilisi")),
        ("Image - Flooded street (© Reuters)", ImageCredit("Reuters", "Flooded street")),
        ("Фото: Сессия парламента (пресс-служба Милли Меджлиса)",
         ImageCredit("пресс-служба Милли Меджлиса", "Сессия парламента")),
        ("Photo: Reuters", ImageCredit("Reuters")),
        ("Foto: AFP.", ImageCredit("AFP")),
        ("Şəkil: APA", ImageCredit("APA")),
        ("Photo by Jane Doe", ImageCredit("Jane Doe")),
        # A long description with no credit: a caption only (the partner's default image credit fills in).
        ("Photo: Deputies voting in the Milli Majlis chamber on Thursday",
         ImageCredit("", "Deputies voting in the Milli Majlis chamber on Thursday")),
    ],
)
def test_photo_line_variants(line: str, expected: ImageCredit) -> None:
    assert match_photo_line(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("By Leyla Aliyeva", ("Leyla Aliyeva",)),
        ("by Jane Doe and John Roe.", ("Jane Doe", "John Roe")),
        ("BY JOHN SMITH", ("John Smith",)),
        ("By Jane Doe (jane@example.org)", ("Jane Doe",)),
        ("Автор: Иван Петров", ("Иван Петров",)),
        ("Müəllif: Leyla Əliyeva", ("Leyla Əliyeva",)),
        ("Par Jean Dupont et Marie Curie", ("Jean Dupont", "Marie Curie")),
        ("By the time the vote came, most deputies had left the chamber", None),
        ("Baku, 4 February – by road", None),
    ],
)
def test_byline_variants(line: str, expected: tuple[str, ...] | None) -> None:
    assert match_byline(line) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BAKU, 4 February – The parliament", Dateline("Baku", "4 February", None)),
        ("Baku (Turan) – The Milli Majlis", Dateline("Baku", None, "Turan")),
        ("TBILISI, Nov. 25 (Caspian Wire) - Georgia", Dateline("Tbilisi", "Nov. 25", "Caspian Wire")),
        ("Aktau, Kazakhstan, 25 November — The port", Dateline("Aktau, Kazakhstan", "25 November", None)),
        ("AKHALKALAKI, Georgia (commonspace.eu) – Freight", Dateline("Akhalkalaki, Georgia", None, "commonspace.eu")),
        ("Baku, 23 November (Turan) – Neftchi ended", Dateline("Baku", "23 November", "Turan")),
        ("МОСКВА, 25 ноября – Текст", Dateline("Москва", "25 ноября", None)),
        ("Bakı, 4 fevral (Turan) – Mətn", Dateline("Bakı", "4 fevral", "Turan")),
        ("NEW YORK, Feb 4, 2026 -- Markets", Dateline("New York", "Feb 4, 2026", None)),
        ("The minister said – nothing", None),
        ("no dateline here at all", None),
    ],
)
def test_dateline_variants(text: str, expected: Dateline | None) -> None:
    assert match_dateline(text) == expected


STORY = (
    "<p>BAKU, 24 November – Azerbaijan and Kazakhstan agreed to add ferries.</p>"
    "<p>The agreement was signed in Baku on Tuesday.</p>"
)


@pytest.mark.parametrize(
    "furniture",
    [
        "<h3>Related articles</h3><ul><li><a href='https://x.example/1'>Other</a></li></ul>",
        "<h4>Editor's choice</h4><ul><li>Other</li></ul>",
        "<p><strong>Popular</strong></p><ul><li>Other</li></ul>",
        "<h4>More on commonspace.eu</h4><ul><li>Other</li></ul>",
        "<h3>Read also:</h3><p>Other</p>",
        "<h3>Читайте также</h3><ul><li>Другое</li></ul>",
        "<h3>Oxşar xəbərlər</h3><ul><li>Digər</li></ul>",
        "<h3>À lire aussi</h3><ul><li>Autre</li></ul>",
        "<ul><li>Most read</li><li>Other</li></ul>",
    ],
)
def test_default_furniture_removed_with_everything_after(furniture: str) -> None:
    html = STORY + "<p>source: commonspace.eu with Turan news agency, Baku.</p>" + furniture + "<p>After furniture.</p>"
    ex = extract(html)
    assert "Other" not in ex.html and "Другое" not in ex.html and "After furniture" not in ex.html
    assert "Autre" not in ex.html and "Digər" not in ex.html
    assert ex.furniture_removed >= 2
    assert ex.original_agency == "Turan news agency"  # credit lines before the furniture are still read
    assert "source:" not in ex.html
    assert "signed in Baku" in ex.html


def test_partner_furniture_selectors_and_patterns() -> None:
    html = STORY + '<div class="share-box"><p>Share on X</p></div><p>Tail</p>'
    assert "Share on X" in extract(html).html
    by_selector = extract(html, FurnitureRules(selectors=("div.share-box",)))
    assert "Share on X" not in by_selector.html and "Tail" not in by_selector.html
    assert "signed in Baku" in by_selector.html
    nested = STORY + '<div><p>Keep</p><aside class="promo"><b>Ad</b></aside></div><p>After</p>'
    cut = extract(nested, FurnitureRules(selectors=(".promo",)))
    assert "After" not in cut.html and "signed in Baku" in cut.html
    by_pattern = extract(STORY + "<p>Subscribe to our Telegram channel!</p><p>More</p>",
                         FurnitureRules(patterns=(r"telegram channel",)))
    assert "Telegram" not in by_pattern.html and "More" not in by_pattern.html
    # Without defaults, a "Related articles" heading is ordinary text.
    assert "Related" in extract(STORY + "<h3>Related articles</h3>", FurnitureRules(defaults=False)).html


def test_credit_lines_leave_the_body_and_are_recorded() -> None:
    html = (
        "<p>By Leyla Aliyeva</p><p>Baku, 23 November (Turan) – Neftchi won.</p><p>Second paragraph.</p>"
        "<p>Source: Turan with APA-Sport, Baku.</p>"
        "<p>photo: Fans at the stadium (picture courtesy of contact.az)</p>"
    )
    ex = extract(html)
    assert ex.bylines == ("Leyla Aliyeva",)
    assert (ex.distributing_source, ex.original_agency, ex.source_place) == ("Turan", "APA-Sport", "Baku")
    assert ex.image_credits == (ImageCredit("contact.az", "Fans at the stadium"),)
    assert (ex.dateline_place, ex.dateline_date, ex.dateline_agency) == ("Baku", "23 November", "Turan")
    assert ex.lines == (
        "By Leyla Aliyeva", "Source: Turan with APA-Sport, Baku.",
        "photo: Fans at the stadium (picture courtesy of contact.az)",
    )
    assert ex.found == ("byline", "source", "photo", "dateline")
    assert "Leyla" not in ex.html and "Source:" not in ex.html and "contact.az" not in ex.html
    assert ex.html.startswith("<p>Baku, 23 November (Turan)")  # the dateline stays: it is part of the lead


def test_no_derivatives_reads_but_keeps_credit_lines() -> None:
    html = STORY + "<p>Source: Turan news agency, Baku.</p><h3>Related articles</h3><ul><li>x</li></ul>"
    ex = extract(html, remove=False)
    assert ex.distributing_source == "Turan news agency"
    assert "Source: Turan news agency, Baku." in ex.html
    assert "Related" not in ex.html  # furniture goes either way


def test_missing_parts_and_empty_input() -> None:
    assert extract("").html == ""
    only_story = extract(STORY)
    assert only_story.distributing_source is None and only_story.image_credits == () and only_story.lines == ()
    assert only_story.html == STORY
    photo_only = extract(STORY + "<p>Photo: Reuters</p>")
    assert photo_only.image_credits == (ImageCredit("Reuters"),) and photo_only.distributing_source is None


def _is_furniture_reference(el, patterns, defaults):  # type: ignore[no-untyped-def]
    """_is_furniture without its shortcut for long paragraphs: the full check on the cleaned text."""
    from syndication.pipeline.attribute import _is_furniture_text
    from syndication.pipeline.text import clean_text

    text = clean_text(el.text_content()) if hasattr(el, "text_content") else ""
    return _is_furniture_text(el, text, patterns, defaults)


def test_furniture_shortcut_equals_the_full_check() -> None:
    import random
    import re

    import lxml.html

    from syndication.pipeline.attribute import _is_furniture

    rng = random.Random(3)
    pieces = ["Related articles", "Read more", "Editor's choice", "Popular", " ", "\n\t", "\x0b", "é", "word",
              "x" * 30, "Most read", ":", "  \n  ", "Photo: AP", "<b>Related</b>", "&nbsp;"]
    tags = ["p", "div", "footer", "aside", "h2", "ul", "section", "blockquote"]
    near_the_bound = [f"{head}{filler * k}" for head in ("Subscribe ", "Follow us on", "More from ")
                      for filler in ("y", " y", "\n \t", "y  ") for k in range(0, 80, 3)]
    for text in near_the_bound:
        for tag in ("p", "footer", "h3"):
            el = lxml.html.fragment_fromstring(f"<{tag}>{text}</{tag}>")
            for defaults in (True, False):
                assert _is_furniture(el, [], defaults) == _is_furniture_reference(el, [], defaults), (tag, text)
    for _ in range(3000):
        tag = rng.choice(tags)
        inner = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        if tag in ("ul",):
            inner = f"<li>{inner}</li><li>{rng.choice(pieces)}</li>"
        el = lxml.html.fragment_fromstring(f"<{tag}>{inner}</{tag}>")
        for patterns in ([], [re.compile("read more", re.I)]):
            for defaults in (True, False):
                assert _is_furniture(el, patterns, defaults) == _is_furniture_reference(el, patterns, defaults), (
                    tag, inner, patterns, defaults)


def test_a_closing_credit_line_is_cut_where_it_was_read_not_at_the_same_words_earlier() -> None:
    """Found by hypothesis (normalising twice changed the body): the closing "By Jane Doe" was cut out of the
    earlier "By Jane Doe0", leaving "0" and the real byline line in place for the next pass to take."""
    from syndication.pipeline.attribute import extract

    first = extract("<div><p>By Jane Doe0</p>By Jane Doe</div>")
    assert first.html == "<div><p>By Jane Doe0</p></div>" and first.bylines == ("Jane Doe",)
    assert extract(first.html).html == first.html


@given(st.text(st.one_of(st.characters(codec=None), st.sampled_from([" ", "\n", "\u0301", "\u0323", "\u1100", "\u1161",
                                                                     "\u11a8", "e", "\x01", "\u2028"])),
               min_size=200, max_size=600))
@settings(max_examples=300)
def test_the_cleaned_start_of_a_block_bounds_the_cleaned_block(raw: str) -> None:
    """What lets _is_furniture skip cleaning a long non-ASCII paragraph in full."""
    from syndication.pipeline.attribute import _PROBE_CHARS, HEADING_MAX_CHARS  # lazy: the one test that needs it
    from syndication.pipeline.text import clean_text  # lazy: the one test that needs it

    if len(clean_text(raw[:_PROBE_CHARS])) > 2 * HEADING_MAX_CHARS:
        assert len(clean_text(raw)) > HEADING_MAX_CHARS
