"""Credits as data: spans, partner rules (credit_patterns), metadata already carrying a credit (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.attribution import DESK, normalise
from syndication.kernel.domain import PartnerPolicy
from syndication.kernel.settings import ConfigError, load_settings
from syndication.pipeline.attribute import extract
from syndication.pipeline.credits import credit_rules, match_dateline, validate_patterns
from syndication.pipeline.ingest import attribution_json
from syndication.pipeline.policy import build_policy


def test_every_credit_keeps_the_span_it_came_from() -> None:
    html = (
        "<p><strong>TBILISI, 3 December, Interpressnews.</strong> The parliament adopted the law.</p>"
        "<p>Text.<br>Source: Agenda.ge<br>Photo: Civil.ge</p>"
    )
    credits = extract(html).credits
    assert [(c.kind, c.value) for c in credits] == [
        ("place", "Tbilisi"), ("date", "3 December"), ("agency", "Interpressnews"), ("source", "Agenda.ge"),
        ("photo", "Civil.ge"),
    ]
    for c in credits:
        assert c.line[c.start:c.end].casefold() == c.value.casefold(), c
        assert c.rule.split(":")[0] in ("dateline", "credit_line", "photo")


def test_credits_are_stored_with_the_attribution() -> None:
    item = normalise("<p>BAKU, Nov 4 (Turan) – The budget passed.</p><p>Photo: APA</p>")
    stored = attribution_json(item)["credits"]
    assert {"kind": "agency", "value": "Turan", "line": "BAKU, Nov 4 (Turan) – The budget passed.", "start": 13,
            "end": 18, "rule": "dateline:wire-parenthesis", "caption": None} in stored
    assert [c["kind"] for c in stored] == ["place", "date", "agency", "photo"]
    assert item.attribution.original_agency == "Turan" and item.attribution.dateline_place == "Baku"


def test_a_credit_the_partners_metadata_carries_is_not_repeated() -> None:
    body = "<p>By Leyla Aliyeva</p><p>BAKU, Nov 4 (Turan) – The budget passed.</p><p>Source: APA</p>"
    turan = PartnerPolicy(id="turan", name="Turan", credit="Turan news agency")
    item = normalise(body, turan, {"authors": ("Leyla Aliyeva",)})
    kinds = {(c.kind, c.value) for c in item.attribution.credits}
    assert ("agency", "Turan") not in kinds and ("byline", "Leyla Aliyeva") not in kinds
    assert ("source", "APA") in kinds and ("place", "Baku") in kinds
    assert item.attribution.authors == ("Leyla Aliyeva",)  # once, not twice
    pushed = normalise("<p>Source: commonspace.eu with APA, Baku.</p>", DESK, {"original_agency": "APA"})
    assert ("agency", "APA") not in {(c.kind, c.value) for c in pushed.attribution.credits}


def test_partner_credit_patterns_add_rules_and_agencies(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        '[[partners]]\nid = "caspian"\nname = "Caspian Wire"\n'
        "[partners.credit_patterns]\n"
        "dateline = ['^(?P<place>[A-Z]+) \\| (?P<agency>CW) \\|']\n"
        "credit_line = ['^Filed by (?P<agency>.+) desk$']\n"
        'agencies = ["Caspian Wire"]\n'
    )
    partner = load_settings(cfg).partners[0]
    policy = build_policy(_Row(partner.id, partner.name), partner)
    assert policy.credit_agencies == ("Caspian Wire",)
    body = "<p>AKTAU | CW | The port handled a record.</p><p>More text here.</p><p>Filed by Trend desk</p>"
    item = normalise(body, policy)
    got = [(c.kind, c.value, c.rule) for c in item.attribution.credits]
    assert ("place", "Aktau", "dateline:partner-1") in got and ("agency", "CW", "dateline:partner-1") in got
    assert ("agency", "Trend", "credit_line:partner-1") in got
    # Without the partner's rules the same body yields nothing of it.
    assert normalise(body).attribution.credits == ()


def test_partner_agencies_decide_ambiguous_layouts() -> None:
    line = "AKTAU, Caspian Desk. The port handled a record."
    assert match_dateline(line, credit_rules()) is None
    found = match_dateline(line, credit_rules((), ("Caspian Desk",)))
    assert found is not None and [(c.kind, c.value) for c in found] == [("place", "Aktau"), ("agency", "Caspian Desk")]


@pytest.mark.parametrize(
    ("table", "pattern", "message"),
    [
        ("dateline", "^(?P<place>[A-Z", "invalid pattern"),
        ("byline", "^By (?P<who>.+)$", "unknown group 'who'"),
        ("photo", "^Photo: .+$", "names no group"),
        ("footer", "(?P<agency>x)", "unknown credit_patterns table 'footer'"),
    ],
)
def test_bad_credit_patterns_are_refused(table: str, pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_patterns(table, [pattern])


def test_bad_credit_patterns_name_the_key_in_the_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text('[[partners]]\nid = "x"\nname = "X"\n[partners.credit_patterns]\nbyline = ["^By (?P<who>.+)$"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert "partners[0].credit_patterns.byline" in str(info.value) and "unknown group 'who'" in str(info.value)
    cfg.write_text('[[partners]]\nid = "x"\nname = "X"\n[partners.credit_patterns]\nbylines = ["x"]\n')
    with pytest.raises(ConfigError, match="unknown key 'partners\\[0\\].credit_patterns.bylines'"):
        load_settings(cfg)


class _Row:
    def __init__(self, id: str, name: str) -> None:
        self.id, self.name, self.credit = id, name, name
        self.homepage = self.license_url = self.usage_terms = self.copyright = self.language = None


@pytest.mark.parametrize(
    ("html", "left", "lines"),
    [
        ("<p>Story text.<br>Source: APA<br>Photo: AFP</p>", "<p>Story text.</p>", ("Source: APA", "Photo: AFP")),
        ("<p>By Jane Doe<br>BAKU (AP) — Story</p>", "<p>BAKU (AP) — Story</p>", ("By Jane Doe",)),
        ("Story.\nSource: Kazinform", "Story.", ("Source: Kazinform",)),
        ("Story<br>Source: Kazinform<br>Photo: Akorda press service", "Story", (
            "Source: Kazinform", "Photo: Akorda press service")),
    ],
)
def test_credit_lines_sharing_a_block_or_in_plain_text_leave_the_body(
    html: str, left: str, lines: tuple[str, ...]
) -> None:
    ex = extract(html)
    assert ex.html.strip() == left and ex.lines == lines
    again = extract(ex.html)
    assert again.lines == () and again.html == ex.html


def test_the_bench_articles_credits_are_read() -> None:
    """The seed-shaped articles the ingest benchmark polls: dateline, source line (a .example domain) and photo."""
    from bench.common import article

    item = normalise(article(1, 3).html)
    got = {(c.kind, c.value) for c in item.attribution.credits}
    assert {("source", "region.example"), ("agency", "Reuters"), ("photo", "contact.az")} <= got
    assert "source:" not in item.content_html and "contact.az" not in item.content_html


def test_empty_blocks_closing_the_body_still_go() -> None:
    """As before the credit tables: an empty table or paragraph at the end leaves, and stops no credit line."""
    ex = extract("<p>Story text.</p><p>Source: APA</p><table></table><p> </p>")
    assert ex.html == "<p>Story text.</p>" and ex.distributing_source == "APA"


@pytest.mark.parametrize(("line", "date", "agency"), [
    # Month names where a shorter one is a prefix ("Sep"/"Sept", "Mar"/"Mart", "May"/"Mayıs", "сен"/"сент"):
    # the month is read whole, and the agency after a long lead-in is still found.
    ("BAKU, Sept. 1 (Reuters) - Azerbaijan said on Monday", "Sept. 1", "Reuters"),
    ("Bakı, 1 mart, APA. Prezident bu gün", "1 mart", "APA"),
    ("Ankara, 15 Mayıs, AA. Cumhurbaşkanı bugün", "15 Mayıs", "AA"),
    ("МОСКВА, 1 сент - ИНТЕРФАКС. Президент России", "1 сент", "ИНТЕРФАКС"),
    ("Baku. Ramil Mammadli – Trend News Agency. The talks", None, "Trend News Agency"),
])
def test_datelines_read_whole_month_names_and_late_agencies(line: str, date: str | None, agency: str) -> None:
    found = match_dateline(line, credit_rules())
    assert found is not None
    assert [c.value for c in found if c.kind == "date"] == ([date] if date else [])
    assert [c.value for c in found if c.kind == "agency"] == [agency]


def test_a_lead_with_no_closing_mark_after_the_dateline_is_a_plain_dateline() -> None:
    line = "Tbilisi, 1 November – Border officials and villagers met at the crossing on Sunday"
    found = match_dateline(line, credit_rules())
    assert found is not None
    assert [(c.kind, c.value, c.rule) for c in found] == [
        ("place", "Tbilisi", "dateline:place-date"), ("date", "1 November", "dateline:place-date")]
