"""The IPTC ninjs schemas shipped in the package, as validators; nothing is ever fetched at run time."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.protocols import Validator
from referencing import Registry, Resource

# The latest release of each major version: a document is validated against its major version's latest schema.
NINJS_SCHEMAS = {1: "ninjs-schema_1.6.json", 2: "ninjs-schema_2.2.json", 3: "ninjs-schema_3.1.json"}
GEOJSON_SCHEMA = "GeoJSON-schema.json"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("schemas", name).read_text("utf-8"))
    return data


@cache
def ninjs_schema(major: int) -> dict[str, Any]:
    """The schema of ninjs `major` (1, 2 or 3); KeyError for any other."""
    return _load(NINJS_SCHEMAS[major])


@cache
def ninjs_validator(major: int) -> Validator:
    """A validator for ninjs `major`, resolving the GeoJSON reference of 2.x and 3.x locally."""
    schema = ninjs_schema(major)
    geojson = _load(GEOJSON_SCHEMA)
    registry: Registry[Any] = Registry().with_resource(geojson["$id"], Resource.from_contents(geojson))
    cls = Draft7Validator if major == 1 else Draft202012Validator
    validator: Validator = cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)
    return validator
