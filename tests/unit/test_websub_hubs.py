"""[wire] The pure WebSub subscriber rules: discovery (Link headers, Atom/RSS links, JSON Feed hubs), the
Link header parser, X-Hub-Signature checks and what a subscription needs next."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from syndication.intake.hubs import (
    SubscriptionView,
    check_signature,
    discover,
    next_step,
    parse_link_header,
    renew_at,
    unreachable_callback,
)

FEED = "https://agency.example/feed.atom"
NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def atom(head: str, entries: int = 1) -> bytes:
    body = "".join(f"<entry><id>e{i}</id><title>t</title><link rel='hub' href='https://entry-hub.example/'/>"
                   "</entry>" for i in range(entries))
    return (f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>{head}{body}'
            "</feed>").encode()


def test_link_header_parsing() -> None:
    value = ('<https://hub.example/>; rel="hub", </feed.atom>; rel=self; title="a, b \\"quoted\\""'
             ', <https://x.example/>; rel="hub alternate"; rel="ignored"')
    assert parse_link_header(value) == [
        ("https://hub.example/", {"rel": "hub"}),
        ("/feed.atom", {"rel": "self", "title": 'a, b "quoted"'}),
        ("https://x.example/", {"rel": "hub alternate"}),
    ]
    assert parse_link_header("junk") == []


def test_discovery_prefers_link_headers_and_resolves_relative_urls() -> None:
    headers = {"Link": '</hub>; rel="hub", <https://agency.example/topic>; rel="self"'}
    found = discover(atom('<link rel="hub" href="https://doc-hub.example/"/>'), headers, FEED)
    assert found is not None
    assert (found.hub, found.topic, found.hubs) == ("https://agency.example/hub", "https://agency.example/topic",
                                                    ("https://agency.example/hub",))


def test_discovery_from_atom_links_of_the_feed_not_its_entries() -> None:
    head = ('<link rel="hub" href="https://hub-a.example/"/><link rel="hub" href="https://hub-b.example/"/>'
            '<link rel="self" href="https://agency.example/self.atom"/>')
    found = discover(atom(head, entries=3), {}, FEED)
    assert found is not None
    assert found.hubs == ("https://hub-a.example/", "https://hub-b.example/")
    assert found.topic == "https://agency.example/self.atom"
    # Only an entry's link names a hub: the feed advertises none.
    assert discover(atom(""), {}, FEED) is None


def test_discovery_from_rss_atom_link_and_fallback_topic() -> None:
    rss = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "y">]><rss version="2.0" '
           b'xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>'
           b'<atom:link rel="hub" href="https://pubsubhubbub.example/"/><item><title>&x;</title></item>'
           b"</channel></rss>")
    found = discover(rss, {"content-type": "application/rss+xml"}, FEED)
    assert found is not None and found.hub == "https://pubsubhubbub.example/"
    assert found.topic == FEED  # no rel=self: the URL we fetched


def test_a_feed_only_mentioning_hub_inside_words_is_not_read_for_links() -> None:
    """"hub" inside a longer word (github, pubsubhubbub, hubris) names no hub: the document is not read for links;
    the rel token itself, in either quote and among other tokens, still is."""
    mentions = ('<link rel="alternate" href="https://github.com/agency"/><subtitle>hubris at '
                "pubsubhubbub.example</subtitle>")
    assert discover(atom(mentions), {}, FEED) is None
    for head in ("<link rel='hub' href='https://hub.example/'/>", '<link rel="self hub" href="https://hub.example/"/>'):
        found = discover(atom(head), {}, FEED)
        assert found is not None and found.hub == "https://hub.example/"


def test_a_hub_in_the_link_header_takes_the_self_link_of_a_document_never_naming_a_hub() -> None:
    body = atom('<link rel="self" href="https://agency.example/topic.atom"/><link href="https://github.com/a"/>', 0)
    found = discover(body, {"Link": '<https://hub.example/>; rel="hub"'}, FEED)
    assert found is not None and (found.hub, found.topic) == ("https://hub.example/", "https://agency.example/topic.atom")


def test_rel_tokens_name_a_hub_whatever_their_case() -> None:
    for head in ('<link rel="Hub" href="https://push.example/"/>', '<link rel="HUB" href="https://push.example/"/>'):
        found = discover(atom(head, 0), {}, FEED)
        assert found is not None and found.hub == "https://push.example/", head


def test_discovery_from_json_feed_hubs() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "t", "feed_url": "https://agency.example/f.json",
           "hubs": [{"type": "rssCloud", "url": "https://cloud.example/"},
                    {"type": "WebSub", "url": "https://hub.example/"}], "items": []}
    found = discover(json.dumps(doc).encode(), {}, FEED)
    assert found is not None and (found.hub, found.topic) == ("https://hub.example/", "https://agency.example/f.json")


@pytest.mark.parametrize("body", [b"", b"not xml at all hub", b"{\"hubs\": 3}", b"<feed><link rel='hub'",
                                  b"<feed xmlns='http://www.w3.org/2005/Atom'><link rel='hub' href='http://[x'/>",
                                  b"<feed xmlns='http://www.w3.org/2005/Atom'><link rel='hub' href='https://h.example/"
                                  + b"a" * 2000 + b"'/></feed>"])
def test_discovery_of_junk_is_none(body: bytes) -> None:
    assert discover(body, {"link": '<javascript:alert(1)>; rel="hub"'}, FEED) is None


def test_signature_check_is_the_hmac_of_the_body() -> None:
    body, secret = b"<feed/>", b"s3cret"
    for method in ("sha1", "sha256", "sha384", "sha512"):
        digest = hmac.new(secret, body, getattr(hashlib, method)).hexdigest()
        assert check_signature(f"{method}={digest}", body, secret) is None
        assert check_signature(f"{method.upper()}={digest.upper()}", body, secret) is None
        assert check_signature(f"{method}={digest}", body + b" ", secret) is not None
        assert check_signature(f"{method}={digest}", body, b"other") is not None
    assert check_signature(None, body, secret) == "no X-Hub-Signature header"
    assert check_signature("sha256", body, secret) is not None
    assert check_signature("sha256=é", body, secret) is not None


def view(state: str, **over: object) -> SubscriptionView:
    values: dict[str, object] = {"state": state, "source_gone": False, "request_mode": None, "requested_at": None,
                                 "expires_at": None, "renew_at": None}
    values.update(over)
    return SubscriptionView(**values)  # type: ignore[arg-type]


def test_next_step() -> None:
    asked = NOW - timedelta(seconds=100)
    assert next_step(view("pending"), NOW, 300) == "subscribe"
    assert next_step(view("pending", request_mode="subscribe", requested_at=asked), NOW, 300) == "wait"
    assert next_step(view("pending", request_mode="subscribe", requested_at=asked), NOW, 100) == "verify_failed"
    lease = {"expires_at": NOW + timedelta(hours=2), "renew_at": NOW + timedelta(hours=1)}
    assert next_step(view("active", **lease), NOW, 300) == "wait"
    assert next_step(view("active", **lease), NOW + timedelta(hours=1), 300) == "subscribe"
    renewing = {**lease, "request_mode": "subscribe", "requested_at": NOW + timedelta(hours=1)}
    assert next_step(view("active", **renewing), NOW + timedelta(hours=1, seconds=10), 300) == "wait"
    assert next_step(view("active", **renewing), NOW + timedelta(hours=1, seconds=300), 300) == "subscribe"
    assert next_step(view("active", **renewing), NOW + timedelta(hours=2), 300) == "expire"
    for state in ("denied", "failed", "expired"):
        assert next_step(view(state), NOW, 300) == "wait"
    assert next_step(view("active", source_gone=True, **lease), NOW, 300) == "unsubscribe"
    assert next_step(view("pending", source_gone=True), NOW, 300) == "forget"
    leaving = {"request_mode": "unsubscribe", "requested_at": asked}
    assert next_step(view("unsubscribing", source_gone=True, **leaving), NOW, 300) == "wait"
    assert next_step(view("unsubscribing", source_gone=True, **leaving), NOW, 100) == "forget"


def test_renewal_time() -> None:
    assert renew_at(NOW, 864000, 86400) == NOW + timedelta(seconds=864000 - 86400)
    assert renew_at(NOW, 600, 86400) == NOW + timedelta(seconds=300)  # short leases renew half-way


def test_unreachable_callback() -> None:
    assert unreachable_callback("https://news.example.org") is None
    assert unreachable_callback("http://203.0.113.7:8000") is not None  # documentation range: not global
    assert unreachable_callback("http://8.8.8.8") is None
    for local in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]/", "http://10.1.2.3",
                  "http://app.localhost"):
        assert unreachable_callback(local) is not None, local
