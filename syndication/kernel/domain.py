"""Typed values passed between the stages. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ItemOutcome = Literal["new", "updated", "unchanged", "rejected"]


@dataclass(frozen=True, slots=True)
class PartnerPolicy:
    """What a partner asks of us when we republish its items."""

    id: str
    name: str
    credit: str
    homepage: str | None = None
    license_url: str | None = None
    usage_terms: str | None = None
    copyright: str | None = None
    language: str | None = None
    # [normalise] rights policy and rules (see syndication/pipeline/policy.py).
    attribution_template: str | None = None
    no_derivatives: bool = False
    tracking_pixel_url: str | None = None
    default_image_credit: str | None = None
    furniture_selectors: tuple[str, ...] = ()
    furniture_patterns: tuple[str, ...] = ()
    # Extra credit rules by line table ("dateline", "byline", "photo", "credit_line", "inline") and extra
    # agency names (see syndication/pipeline/credits.py and docs/attribution.md).
    credit_patterns: tuple[tuple[str, tuple[str, ...]], ...] = ()
    credit_agencies: tuple[str, ...] = ()
    allowed_iframe_hosts: tuple[str, ...] = ()
    embargo_delay: int = 0  # seconds


@dataclass(frozen=True, slots=True)
class Enclosure:
    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedEntry:
    """One entry as a partner's document gave it, before any cleaning."""

    guid: str | None
    link: str | None
    title: str | None
    content_html: str | None
    summary_html: str | None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None
    base_url: str | None = None
    enclosures: tuple[Enclosure, ...] = ()
    # Partner-supplied workflow fields (push API `_syndication`, or equivalents in a feed).
    status: str | None = None
    change_note: str | None = None
    embargo_until: datetime | None = None
    original_agency: str | None = None
    image_credit: str | None = None
    # The dates as the document wrote them, when the parser kept the text: what operators are shown when
    # normalisation sets a date aside (pipeline/dates.py), including text no date parser could read.
    published_raw: str | None = None
    updated_raw: str | None = None
    # Set when the item came in an agency's own format (IPTC ninjs, NewsML-G2): what it states as fields.
    wire: WireFields | None = None


@dataclass(frozen=True, slots=True)
class WireFields:
    """What an agency format (IPTC ninjs, NewsML-G2) states as fields that we otherwise read from the copy.

    When present they win over what attribution extracts from prose (pipeline/attribute.py); the rest of the
    item (id, headline, body, dates, embargo, subjects, language) travels in ParsedEntry's own fields.
    """

    format: str  # "ninjs-1" | "ninjs-2" | "ninjs-3" | "newsml-g2"
    item_type: str = "text"  # text | picture | composite (a package)
    version: str | None = None
    pubstatus: str = "usable"  # usable | withheld | canceled, as the document says it
    byline: str | None = None
    credit_line: str | None = None
    dateline: str | None = None
    located: str | None = None
    copyright_holder: str | None = None
    copyright_notice: str | None = None
    usage_terms: str | None = None
    license_url: str | None = None
    info_sources: tuple[str, ...] = ()  # originating agencies and sources, in document order
    distributor: str | None = None  # the info source that distributed it (ninjs role "distributor")
    images: tuple[ImageCredit, ...] = ()  # associated photos with their captions and credit lines
    item_refs: tuple[str, ...] = ()  # a package's member items (G2 itemRef/@residref), in document order


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str | None
    link: str | None
    language: str | None
    entries: tuple[ParsedEntry, ...]
    format: str  # "rss", "atom", "json", ...
    # Set when the document was ill-formed but some entries were recovered.
    problem: str | None = None
    # Set when the bytes were not in the encoding the document declared and were read another way.
    encoding_note: str | None = None

    @property
    def notes(self) -> str | None:
        """What operators should hear about this document (`sources.parse_problem`), if anything."""
        return "; ".join(n for n in (self.problem, self.encoding_note) if n) or None


@dataclass(frozen=True, slots=True)
class Attribution:
    """Everything we say about who made an item and on what terms it is republished."""

    credit: str
    partner_id: str
    partner_name: str
    original_url: str | None
    license_url: str | None = None
    usage_terms: str | None = None
    rights: str | None = None
    authors: tuple[str, ...] = ()
    distributing_source: str | None = None
    original_agency: str | None = None
    dateline_place: str | None = None
    dateline_date: str | None = None
    image_credits: tuple[ImageCredit, ...] = ()
    extracted: tuple[str, ...] = ()  # the raw lines we turned into data, for operators
    # [normalise] policy fields the publisher needs to compose the footer, and provenance.
    license_name: str | None = None
    attribution_template: str | None = None
    tracking_pixel_url: str | None = None
    no_derivatives: bool = False
    canonical_url: str | None = None
    source_place: str | None = None
    dateline_agency: str | None = None
    extracted_from: tuple[str, ...] = ()  # "body:source-line", "entry:author", ... per field
    # Every credit read from the body (kind, value, the line and offsets it came from, the rule), less
    # those the partner's own metadata already carries.
    credits: tuple[Credit, ...] = ()
    # [wire] what an agency format stated as fields (kernel WireFields): its credit line, and the version.
    credit_line: str | None = None
    wire_version: str | None = None


@dataclass(frozen=True, slots=True)
class Credit:
    """One credit read from the copy: what it is, its value, and the line and offsets it came from."""

    kind: str  # agency | source | place | date | byline | photo
    value: str
    line: str  # the text line (a paragraph, a <br>-separated part, a caption) it was read from
    start: int  # offsets of the value in `line`
    end: int
    rule: str  # "<table>:<rule>", e.g. "dateline:wire-parenthesis"
    caption: str | None = None  # photo credits: the caption the credit closes


@dataclass(frozen=True, slots=True)
class ImageCredit:
    credit: str
    caption: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class DateSetAside:
    """A partner's date we could not use (pipeline/dates.py), kept for operators: which field, the value
    as the partner wrote it, and why it was set aside."""

    field: str  # "published" | "updated" | "embargo_until"
    raw: str
    reason: str


@dataclass(frozen=True, slots=True)
class NormalisedItem:
    partner_id: str
    key: str  # stable partner-scoped identity
    guid: str | None
    url: str | None
    title: str
    content_html: str
    summary: str | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: datetime
    updated: datetime
    language: str | None
    attribution: Attribution
    content_hash: str
    status: str = "usable"  # usable | corrected | withdrawn
    change_note: str | None = None
    embargo_until: datetime | None = None
    flags: tuple[str, ...] = ()
    # The story fingerprint (pipeline/dedupe.py), computed with the rest of the pure work so it can run
    # in a parse process; `fingerprinted` False means "not computed" (storing computes it then).
    fingerprinted: bool = False
    title_key: str = ""
    body_hash: str | None = None
    simhash: int | None = None
    dates_set_aside: tuple[DateSetAside, ...] = ()


@dataclass(frozen=True, slots=True)
class Rejection:
    guid: str | None
    reason: str


@dataclass(slots=True)
class IngestCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    results: list[tuple[str, ItemOutcome, str | None]] = field(default_factory=list)

    def add(self, key: str, outcome: ItemOutcome, reason: str | None = None) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.results.append((key, outcome, reason))
