"""[publish] validators shared by the feed tests: RFC 4287 RELAX NG, JSON Feed 1.1 schema, alternate links."""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import rnc2rng
from lxml import etree

FIXTURES = Path(__file__).parent / "fixtures"
ATOM = "http://www.w3.org/2005/Atom"


@functools.cache
def atom_schema() -> etree.RelaxNG:
    rng = rnc2rng.dumps(rnc2rng.loads((FIXTURES / "atom.rnc").read_text(encoding="utf-8")))
    # libxml2 rejects the empty `local` namespace declaration (../shared/schemas/README.md).
    rng = rng.replace(' xmlns:local=""', "")
    return etree.RelaxNG(etree.fromstring(rng.encode("utf-8")))


@functools.cache
def jsonfeed_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((FIXTURES / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def assert_valid_atom(data: bytes, name: str = "") -> etree._Element:
    root = etree.fromstring(data)
    schema = atom_schema()
    if not schema.validate(root):
        raise AssertionError(f"{name}: not valid RFC 4287: {schema.error_log}")
    assert_no_duplicate_alternates(root, name)
    return root


def assert_no_duplicate_alternates(root: etree._Element, name: str = "") -> None:
    """RFC 4287 4.1.1: at most one alternate link per (type, hreflang) in a feed, an entry or a source."""
    for container in [root, *root.iter(f"{{{ATOM}}}entry", f"{{{ATOM}}}source")]:
        keys = Counter(
            (link.get("type"), link.get("hreflang"))
            for link in container.findall(f"{{{ATOM}}}link")
            if link.get("rel", "alternate") == "alternate"
        )
        dupes = [k for k, n in keys.items() if n > 1]
        assert not dupes, f"{name}: duplicate alternate links {dupes} in {container.tag}"


def assert_valid_json_feed(data: bytes, name: str = "") -> dict[str, Any]:
    doc = json.loads(data)
    errors = sorted(jsonfeed_validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return dict(doc)


def parse_clean(data: bytes, name: str = "") -> Any:
    d = feedparser.parse(data)
    assert d.bozo == 0, f"{name}: {d.get('bozo_exception')}"
    return d


def validate_tree(public: Path) -> dict[str, int]:
    """Check every published file under `public`; return how many of each kind were checked."""
    counts: Counter[str] = Counter()
    for path in sorted(public.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        data = path.read_bytes()
        rel = str(path.relative_to(public))
        if path.suffix == ".atom":
            assert_valid_atom(data, rel)
            parse_clean(data, rel)
        elif path.suffix == ".rss":
            parse_clean(data, rel)
        elif path.suffix == ".json":
            assert_valid_json_feed(data, rel)
        else:
            continue
        counts[path.suffix] += 1
    return dict(counts)
