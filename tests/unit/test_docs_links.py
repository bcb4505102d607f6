"""[newcomer] 6: every relative link of README.md and docs/*.md leads somewhere, and every marked block of the
guides is well formed (the snippet tests read them by these marks)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.docsnippets import anchors, broken_links, marked_blocks, relative_links, slug

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_the_guides_are_linked_from_the_readme() -> None:
    links = relative_links(REPO / "README.md")
    for name in ("partners.md", "subscribers.md", "architecture.md"):
        assert f"docs/{name}" in links


def test_a_broken_link_or_anchor_is_found(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A `code` heading, with punctuation!\n")
    doc = tmp_path / "doc.md"
    doc.write_text("[ok](there.md#a-code-heading-with-punctuation) [gone](missing.md) [bad](there.md#nope)\n"
                   "[web](https://example.org/x.md) `[not a link](nowhere.md)`\n```\n[in code](nowhere.md)\n```\n")
    assert relative_links(doc) == ["there.md#a-code-heading-with-punctuation", "missing.md", "there.md#nope"]
    assert [b.split(" ")[1] for b in broken_links(doc)] == ["missing.md", "there.md#nope"]
    assert slug("9. For our operators: setting a partner up") == "9-for-our-operators-setting-a-partner-up"
    assert "a-code-heading-with-punctuation" in anchors(tmp_path / "there.md")


def test_marked_blocks_are_read_and_a_dangling_mark_is_an_error(tmp_path: Path) -> None:
    doc = tmp_path / "guide.md"
    doc.write_text("<!-- snippet: hello -->\n```sh\necho hi\n```\n\n<!-- output: hello -->\n```text\nhi\n```\n")
    blocks = marked_blocks(doc)
    assert blocks[("snippet", "hello")].code == "echo hi\n" and blocks[("snippet", "hello")].lang == "sh"
    assert blocks[("output", "hello")].code == "hi\n"
    doc.write_text("<!-- snippet: lost -->\nText instead of a block.\n")
    with pytest.raises(ValueError, match="not followed by a fenced block"):
        marked_blocks(doc)


@pytest.mark.parametrize("name", ["partners.md", "subscribers.md"])
def test_the_guides_have_marked_blocks(name: str) -> None:
    blocks = marked_blocks(REPO / "docs" / name)
    assert any(kind == "snippet" for kind, _ in blocks)


def test_the_partner_guide_lists_every_error_code_of_the_api() -> None:
    """docs/partners.md §8 promises every error code: each (status, code) the partner API can answer is a
    row of its table, and the table names none the API never answers."""
    source = (REPO / "syndication" / "web" / "api.py").read_text()
    answered = set(re.findall(r'ApiError\(\s*(\d{3}),\s*"([a-z_]+)"', source))
    answered |= set(re.findall(r'(\d{3}): "([a-z_]+)"', source))  # the router's own 404/405
    assert ("401", "missing_key") in answered and len(answered) > 15  # the scan still finds them
    guide = (REPO / "docs" / "partners.md").read_text()
    table = set(re.findall(r"^\| (\d{3}) \| `([a-z_]+)` \|", guide, re.M))
    assert table == answered
