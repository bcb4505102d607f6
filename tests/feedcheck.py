"""[publish] validators shared by the feed tests: RFC 4287 RELAX NG, JSON Feed 1.1 schema, alternate links,
IPTC ninjs 2.2 (every item of a channel's .ninjs.json file)."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import rnc2rng
from lxml import etree

from syndication.intake.wire_schemas import ninjs_validator

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


def assert_valid_ninjs(data: bytes, name: str = "") -> dict[str, Any]:
    """A channel's ninjs file: our wrapper (channel metadata, `deleted`, `items` last) whose every item and
    tombstone is a ninjs 2.2 document valid against IPTC's schema, judged one by one."""
    doc = json.loads(data)
    assert isinstance(doc, dict) and list(doc)[-1] == "items", f"{name}: no items list last"
    assert doc["standard"]["name"] == "ninjs" and doc["standard"]["version"] == "2.2", name
    for key in ("items", "deleted"):
        for n, item in enumerate(doc.get(key, ())):
            assert_valid_ninjs_item(item, f"{name} {key}[{n}]")
    return dict(doc)


# The formats ninjs declares, checked: jsonschema checks "uri" and "date-time" only with optional packages
# (rfc3987, rfc3339-validator) we do not install, and silently passes them otherwise.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
NINJS_FORMATS = jsonschema.FormatChecker()
NINJS_FORMATS.checks("uri")(lambda value: not isinstance(value, str) or bool(_URI.fullmatch(value)))
NINJS_FORMATS.checks("date-time")(lambda value: not isinstance(value, str) or bool(_DATE_TIME.fullmatch(value)))


@functools.cache
def ninjs_item_validator() -> Any:
    return ninjs_validator(2).evolve(format_checker=NINJS_FORMATS)


def assert_valid_ninjs_item(item: dict[str, Any], name: str = "") -> None:
    """Valid against IPTC's ninjs-schema_2.2.json, its formats (uri, date-time) included."""
    errors = sorted(ninjs_item_validator().iter_errors(item), key=lambda e: list(e.absolute_path))
    assert not errors, f"{name}: " + "; ".join(f"/{'/'.join(map(str, e.absolute_path))}: {e.message}"
                                               for e in errors[:5])


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
        elif path.name.endswith(".ninjs.json"):
            assert_valid_ninjs(data, rel)
            counts[".ninjs.json"] += 1
            continue
        elif path.suffix == ".json":
            assert_valid_json_feed(data, rel)
        else:
            continue
        counts[path.suffix] += 1
    return dict(counts)
