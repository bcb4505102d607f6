"""The ninjs schemas shipped in the package judge IPTC's own validation suites as IPTC does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syndication.intake.wire_schemas import ninjs_validator
from tests.conftest import SHARED

SUITE = SHARED / "standards" / "iptc" / "ninjs" / "test_suite"


def _cases(version: str, kind: str) -> list[Path]:
    return sorted((SUITE / version / kind).glob("*.json"))


@pytest.mark.skipif(not SUITE.is_dir(), reason=f"IPTC's ninjs suite is not at {SUITE}")
@pytest.mark.parametrize(("version", "major"), [("1.6", 1), ("2.2", 2), ("3.1", 3)])
def test_latest_schemas_accept_should_pass_and_refuse_should_fail(version: str, major: int) -> None:
    validator = ninjs_validator(major)
    passing, failing = _cases(version, "should_pass"), _cases(version, "should_fail")
    assert passing and failing
    for path in passing:
        errors = [e.message for e in validator.iter_errors(json.loads(path.read_text("utf-8")))]
        assert errors == [], path.name
    for path in failing:
        assert not validator.is_valid(json.loads(path.read_text("utf-8"))), path.name
