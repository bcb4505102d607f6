"""Channels and the items in them as the renderers see them: plain values, no database (the queries that
fill them are in syndication.publish.channels).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

ITEM_NAMESPACE = uuid.UUID("6f1c9a52-52b8-4d5e-9a77-2b1e0c6f9a10")
# A format's file name extension where it is not the format's name: channel files, archive pages, topics.
EXTENSIONS = {"ninjs": "ninjs.json"}


def file_extension(fmt: str) -> str:
    return EXTENSIONS.get(fmt, fmt)


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    id: str  # "all", "partners/<id>", or a configured channel's id
    title: str
    description: str
    window: int
    partners: tuple[str, ...] = ()  # empty = every partner
    categories: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True, slots=True)
class PartnerInfo:
    id: str
    name: str
    homepage: str | None
    feed_url: str | None
    credit: str
    license_url: str | None
    usage_terms: str | None
    copyright: str | None
    updated: datetime | None


# weakref_slot: memos of what is made from an item hold it weakly (publish.feeds, kernel.lru.LiveMemo).
@dataclass(frozen=True, slots=True, weakref_slot=True)
class PublishedItem:
    id: int
    uid: str  # urn:uuid, stable forever for (partner, key)
    partner: PartnerInfo
    url: str | None
    title: str
    content_html: str
    summary: str | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    language: str | None
    published: datetime
    updated: datetime
    attribution: dict[str, Any]
    version: int
    # Every partner carrying this story (dicts: partner_id, partner_name, credit, url, id); set in channels
    # that show a story once ([normalise]); empty otherwise.
    carriers: tuple[dict[str, Any], ...] = ()
    guid: str | None = None  # the partner's own id of the item (ninjs altids)


def under_embargo(embargo_until: datetime | None, at: datetime) -> bool:
    return embargo_until is not None and embargo_until > at


def partner_channel_id(partner_id: str) -> str:
    return f"partners/{partner_id}"


def channels_for_partner(specs: list[ChannelSpec], partner_id: str) -> list[str]:
    return [s.id for s in specs if not s.partners or partner_id in s.partners]


def item_uid(partner_id: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(ITEM_NAMESPACE, partner_id + '/' + key)}"
