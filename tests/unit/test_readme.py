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


def documented(section: str | None, key: str) -> bool:
    """`section.key` in the README, or `key` on a line about the section (`fetch.connect_timeout` / `read_timeout`)."""
    if section is None:
        return f"`{key}`" in README
    if f"`{section}.{key}`" in README:
        return True
    return any(f"`{section}." in line and f"`{key}`" in line for line in README.splitlines())


def test_the_config_table_lists_every_key() -> None:
    """[newcomer] Every setting that changes behaviour is in the README's configuration table."""
    from pydantic import BaseModel

    from syndication.kernel.settings import Settings

    missing = []
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            missing += [f"{name}.{key}" for key in kind.model_fields if not documented(name, key)]
        elif name in ("partners", "channels", "subscribers"):
            if f"[[{name}]]" not in README:
                missing.append(f"[[{name}]]")
        elif not documented(None, name):
            missing.append(name)
    assert missing == []
