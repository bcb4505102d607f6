"""WebSub, the subscriber's side (https://www.w3.org/TR/websub/): the pure rules. No I/O here.

- `discover`: the hub(s) and topic a fetched feed advertises — `Link: <…>; rel="hub"` / `rel="self"` response
  headers first (the spec's preferred form), then the document's own links: `<atom:link rel="hub|self">` at
  the feed or channel level (Atom, and RSS 2.0 with the Atom namespace), or JSON Feed's `hubs` / `feed_url`.
  A hub advertised without a self link gets the URL we fetched as its topic.
- `check_signature`: the `X-Hub-Signature: <method>=<hex HMAC of the body>` of a content distribution, with
  sha1, sha256, sha384 or sha512, compared in constant time.
- `next_step`: what a subscription needs from the hub now (subscribe or renew, unsubscribe, give up), from
  its state alone, so the job that acts on it is the same in every process.

The Link header parser is written here by hand (RFC 8288's `<uri>; param=value` list, quoted values with
escapes, `rel` as a space-separated list): the HTTP libraries that parse it (httpx, requests) are network
modules the pure core does not import, and it is twenty lines.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urljoin, urlsplit

ATOM_NS = "http://www.w3.org/2005/Atom"
SIGNATURE_METHODS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
                     "sha512": hashlib.sha512}
# The document's head is read in pieces this big until its first entry (the links are above it).
_CHUNK = 16 * 1024
_ENTRY_TAGS = frozenset({"item", "entry", f"{{{ATOM_NS}}}entry", "{http://purl.org/rss/1.0/}item"})


@dataclass(frozen=True, slots=True)
class Advertised:
    """A feed's WebSub advertisement: the hub we subscribe at (the first one given) and the topic."""

    hub: str
    topic: str
    hubs: tuple[str, ...]  # every hub advertised, in order (operators see them)


_LINK_START = re.compile(r"\s*,?\s*<([^>]*)>")
_LINK_PARAM = re.compile(r"\s*;\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*(?:=\s*(\"(?:[^\"\\]|\\.)*\"|[^;,\s]*))?")


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """`<a>; rel="hub", <b>; rel=self` -> [("a", {"rel": "hub"}), ("b", {"rel": "self"})]; junk is skipped."""
    out: list[tuple[str, dict[str, str]]] = []
    pos = 0
    while (m := _LINK_START.match(value, pos)) is not None:
        target, pos = m.group(1).strip(), m.end()
        params: dict[str, str] = {}
        while (p := _LINK_PARAM.match(value, pos)) is not None:
            raw = p.group(2) or ""
            if raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            params.setdefault(p.group(1).lower(), raw)  # RFC 8288: only the first of a repeated param counts
            pos = p.end()
        out.append((target, params))
        comma = value.find(",", pos)
        if comma < 0:
            break
        pos = comma
    return out


def _rels(params: Mapping[str, str]) -> set[str]:
    return {r.lower() for r in params.get("rel", "").split()}


MAX_URL = 2000  # the hub and topic columns' size


def _absolute(target: str, base: str) -> str | None:
    try:
        url = urljoin(base, target.strip())
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc and len(url) <= MAX_URL else None


def discover(body: bytes, headers: Mapping[str, str], url: str) -> Advertised | None:
    """The hub and topic a fetched feed advertises, or None (no hub, or no usable http(s) hub URL)."""
    hubs: list[str] = []
    selfs: list[str] = []
    link = {k.lower(): v for k, v in headers.items()}.get("link")
    if link:
        for target, params in parse_link_header(link):
            rels = _rels(params)
            resolved = _absolute(target, url)
            if resolved is None:
                continue
            if "hub" in rels:
                hubs.append(resolved)
            if "self" in rels:
                selfs.append(resolved)
    if not hubs or not selfs:
        doc_hubs, doc_selfs = _document_links(body, url, hubs_needed=not hubs)
        hubs = hubs or doc_hubs
        selfs = selfs or doc_selfs
    hubs = list(dict.fromkeys(hubs))
    if not hubs:
        return None
    return Advertised(hub=hubs[0], topic=selfs[0] if selfs else url, hubs=tuple(hubs))


def _names_a_hub(body: bytes) -> bool:
    """Whether the word "hub" or "hubs" appears: an advertised hub is a link whose rel holds the token "hub"
    (Atom, RSS's atom:link) or JSON Feed's "hubs" key, so a document without the word advertises none. "hub"
    inside a longer word (github, pubsubhubbub, a body's "hubris") is not it: 70 of the 112 real feeds carry
    "hub" somewhere, 24 the word, and only those are read for links."""
    for found in _HUB_WORD.finditer(body):
        before = body[found.start() - 1:found.start()]
        if not (before.isalnum() or before == b"_"):
            return True
    return False


_HUB_WORD = re.compile(rb"(?i)hubs?\b")  # rel tokens are case-insensitive (rel="Hub" names a hub)


def _document_links(body: bytes, url: str, hubs_needed: bool = True) -> tuple[list[str], list[str]]:
    # Most feeds cost one scan here (_names_a_hub) and are never parsed for their links; one whose hub came in the
    # Link header is read for its self link whatever words it holds (WebSub's topic is the self URL).
    if hubs_needed and not _names_a_hub(body):
        return [], []
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"{":
        return _json_links(stripped, url)
    return _xml_links(body, url)


def _json_links(body: bytes, url: str) -> tuple[list[str], list[str]]:
    try:
        doc = json.loads(body)
    except ValueError:
        return [], []
    if not isinstance(doc, dict):
        return [], []
    listed = doc.get("hubs")
    hubs = [h for entry in (listed if isinstance(listed, list) else ()) if isinstance(entry, dict)
            and str(entry.get("type", "")).lower() == "websub" and isinstance(entry.get("url"), str)
            for h in (_absolute(entry["url"], url),) if h]
    feed_url = doc.get("feed_url")
    selfs = [s for s in ((_absolute(feed_url, url),) if isinstance(feed_url, str) else ()) if s]
    return hubs, selfs


def _xml_links(body: bytes, url: str) -> tuple[list[str], list[str]]:
    """Atom links of the feed or channel, read until the first entry; hostile XML is read as feeds are
    (DOCTYPE stripped, no entities, no DTD, no network)."""
    # lazy: start-up: lxml and the parsers load with the first fetched document, never for a round of 304s
    from lxml import etree

    from syndication.intake.parse import strip_doctype

    parser = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True, load_dtd=False,
                                 recover=True, remove_comments=True, remove_pis=True)
    hubs: list[str] = []
    selfs: list[str] = []
    data = strip_doctype(body)
    for start in range(0, len(data), _CHUNK):
        try:
            parser.feed(data[start:start + _CHUNK])
            events = list(parser.read_events())
        except etree.LxmlError:
            break
        for _event, element in events:
            tag = element.tag
            if not isinstance(tag, str):
                continue
            if tag in _ENTRY_TAGS:
                return hubs, selfs
            if tag == f"{{{ATOM_NS}}}link":
                rels = {r.lower() for r in (element.get("rel") or "").split()}
                href = element.get("href")
                resolved = _absolute(href, url) if href else None
                if resolved is None:
                    continue
                if "hub" in rels:
                    hubs.append(resolved)
                if "self" in rels:
                    selfs.append(resolved)
    return hubs, selfs


def unreachable_callback(public_url: str) -> str | None:
    """Why a hub out on the Internet could not call back under `public_url` (a loopback or private address
    written in it, or localhost), or None. Names are not resolved: a name is taken to be public."""
    host = (urlsplit(public_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return f"public_url {public_url} names this machine"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return f"public_url {public_url} is not a public address"
    return None


def check_signature(header: str | None, body: bytes, secret: bytes) -> str | None:
    """None when `X-Hub-Signature` is a valid HMAC of `body` under `secret`; else why the content is ignored."""
    if not header or not header.strip():
        return "no X-Hub-Signature header"
    method, sep, given = header.strip().partition("=")
    if not sep:
        return "malformed X-Hub-Signature (expected <method>=<hex digest>)"
    algorithm = SIGNATURE_METHODS.get(method.strip().lower())
    if algorithm is None:
        return f"unsupported X-Hub-Signature method {method.strip()[:20]!r} (sha1, sha256, sha384, sha512)"
    expected = hmac.new(secret, body, algorithm).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace")):
        return f"X-Hub-Signature ({method.strip().lower()}) does not match the body"
    return None


# ---------------------------------------------------------------- the life of a subscription

State = Literal["pending", "active", "denied", "failed", "expired", "unsubscribing"]
STATES: tuple[State, ...] = ("pending", "active", "denied", "failed", "expired", "unsubscribing")
# States in which we poll alone and the hub is tried again only when a later poll still advertises it.
FALLEN_BACK: tuple[State, ...] = ("denied", "failed", "expired")
Step = Literal["subscribe", "unsubscribe", "forget", "verify_failed", "expire", "wait"]


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """What next_step reads of a stored subscription."""

    state: str
    source_gone: bool
    request_mode: str | None  # the request the hub has accepted and not yet verified
    requested_at: datetime | None
    expires_at: datetime | None
    renew_at: datetime | None


def next_step(sub: SubscriptionView, now: datetime, verify_timeout: float) -> Step:
    """What the subscription job does with `sub` now.

    subscribe: ask the hub (first request, or a renewal once renew_at has come; a renewal the hub has not
    verified in time is asked again while the lease lasts). unsubscribe: the source is gone and the hub may
    be sending. forget: drop the row (nothing to tell the hub, or it never verified our unsubscribe).
    verify_failed: the hub accepted a subscribe and never verified it. expire: the lease lapsed."""
    waited = sub.requested_at is not None and now >= sub.requested_at + timedelta(seconds=verify_timeout)
    if sub.source_gone or sub.state == "unsubscribing":
        if sub.request_mode == "unsubscribe":
            return "forget" if waited else "wait"
        return "unsubscribe" if sub.state in ("active", "unsubscribing") else "forget"
    if sub.state == "pending":
        if sub.request_mode is None:
            return "subscribe"
        return "verify_failed" if waited else "wait"
    if sub.state == "active":
        if sub.expires_at is not None and now >= sub.expires_at:
            return "expire"
        if sub.renew_at is not None and now >= sub.renew_at and (sub.request_mode is None or waited):
            return "subscribe"
    return "wait"


def renew_at(verified_at: datetime, lease_seconds: int, renew_before: int) -> datetime:
    """When to renew a lease granted at `verified_at`: `renew_before` ahead of its end, at most half-way."""
    return verified_at + timedelta(seconds=lease_seconds - min(renew_before, lease_seconds / 2))
