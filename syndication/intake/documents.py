"""Any document a partner gives us -> ParsedFeed: an agency format recognised first, else a feed.

Above the parsers so that they need not know each other: intake/newsml.py builds on parse.py's decoding
and DOCTYPE stripping, so parse.py cannot be the one that sends documents to it.
"""

from __future__ import annotations

from collections.abc import Mapping

from syndication.intake.newsml import is_newsml, parse_newsml
from syndication.intake.parse import parse_document
from syndication.kernel.domain import ParsedFeed


def read_document(
    body: bytes, headers: Mapping[str, str] | None = None, url: str | None = None, *, status: int | None = None
) -> ParsedFeed:
    """A NewsML-G2 item or message (by its root element, whatever the Content-Type), or an RSS, Atom or JSON
    Feed document; ParseError (UnsupportedWireItem for agency items we do not take) when it is none."""
    if is_newsml(body):
        content_type = next((v for k, v in (headers or {}).items() if k.lower() == "content-type"), None)
        return parse_newsml(body, content_type)
    return parse_document(body, headers, url, status=status)
