"""Read the guides' marked code blocks and links, for the tests that run and check them.

A block is marked by an HTML comment on the line before its opening fence:
`<!-- snippet: NAME -->` (a command or program the tests run) or `<!-- output: NAME -->` (what the
snippet NAME answers, compared by the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

MARK = re.compile(r"^<!--\s*(snippet|output):\s*([a-z0-9-]+)\s*-->\s*$")
FENCE = re.compile(r"^(```+|~~~+)\s*([A-Za-z0-9_+-]*)\s*$")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    doc: str
    kind: str  # snippet | output
    name: str
    lang: str
    code: str
    line: int


def marked_blocks(path: Path) -> dict[tuple[str, str], Block]:
    """(kind, name) -> the block after each mark; a mark not followed by a fenced block, or a name used
    twice, is an error (a guide edit must not silently drop a block from the tests)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: dict[tuple[str, str], Block] = {}
    i = 0
    while i < len(lines):
        mark = MARK.match(lines[i].strip())
        if not mark:
            i += 1
            continue
        kind, name = mark.groups()
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if fence is None:
            raise ValueError(f"{path.name}:{i + 1}: <!-- {kind}: {name} --> is not followed by a fenced block")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == fence.group(1)), None)
        if end is None:
            raise ValueError(f"{path.name}:{i + 2}: the block of {kind} {name!r} is not closed")
        if (kind, name) in out:
            raise ValueError(f"{path.name}:{i + 1}: {kind} {name!r} is marked twice")
        out[(kind, name)] = Block(path.name, kind, name, fence.group(2), "\n".join(lines[i + 2:end]) + "\n", i + 1)
        i = end + 1
    return out


def guide(name: str) -> dict[tuple[str, str], Block]:
    return marked_blocks(REPO / "docs" / name)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\*|_(?=\w)|(?<=\w)_", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    out: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def relative_links(path: Path) -> list[str]:
    """Every Markdown link target of the document outside code blocks that is not an absolute URL."""
    out = []
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                out.append(target)
    return out


def broken_links(path: Path) -> list[str]:
    """The relative links of a Markdown file whose file, or whose #anchor in it, does not exist."""
    broken = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{path.name}: {target} (no file {dest})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{path.name}: {target} (no heading #{anchor} in {dest.name})")
    return broken
