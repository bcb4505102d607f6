"""[newcomer] What the README points a newcomer to exists in the repository."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_document_the_readme_names_is_in_the_repository() -> None:
    # Backticked paths (`docs/operators.md`, `DESIGN.md`) and relative Markdown links ([x](docs/y.md)).
    named = set(re.findall(r"`([\w./-]+\.md)`", README)) | set(re.findall(r"\]\((?!https?:|#)([^)#\s]+)\)", README))
    assert named, "the README names no document at all?"
    missing = sorted(p for p in named if not (REPO / p).exists())
    assert missing == []
