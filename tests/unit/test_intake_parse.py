"""Hostile and broken documents: DOCTYPE/entities, charsets, not-a-feed, ill-formed, duplicate ids."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from syndication.intake.fetch import is_blocked_ip
from syndication.intake.parse import (
    ParseError,
    declared_encodings,
    decode_xml,
    describe_body,
    parse_document,
    strip_doctype,
)
from syndication.kernel.domain import ParsedEntry, ParsedFeed, PartnerPolicy
from syndication.pipeline.normalise import assign_keys, normalise_feed

RSS_ITEM = "<item><title>{title}</title><link>https://agency.example/{n}</link><guid>g{n}</guid></item>"


def rss(*items: str, decl: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return (decl + '<rss version="2.0"><channel><title>T</title><link>https://agency.example/</link>'
            + "".join(items) + "</channel></rss>").encode("utf-8")


def laughs(single_line: bool) -> bytes:
    ents = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10)
    ]
    sep = "" if single_line else "\n "
    doctype = "<!DOCTYPE lolz [" + sep + sep.join(ents) + "]>"
    return ('<?xml version="1.0"?>\n' + doctype + '\n<rss version="2.0"><channel><title>&lol9;</title>'
            '<item><title>Laugh &lol9;</title><link>https://agency.example/1</link></item></channel></rss>'
            ).encode()


@pytest.mark.parametrize("single_line", [False, True])
def test_billion_laughs_is_defused(single_line: bool) -> None:
    body = laughs(single_line)
    t0 = time.perf_counter()
    feed = parse_document(body, {"content-type": "application/rss+xml"})
    cost = time.perf_counter() - t0
    assert len(feed.entries) == 1
    title = feed.entries[0].title or ""
    assert "lollol" not in title and len(title) < 100
    assert feed.problem  # the undefined entity is recorded: partly parsed
    assert cost < 5  # sanity bound only (the measured cost is a few ms; see bench/)


def test_every_doctype_is_stripped_and_hostile_doctypes_do_not_backtrack() -> None:
    two = b'<!DOCTYPE a [<!ENTITY x "1">]><!doctype b SYSTEM "http://x/">' + rss()
    assert b"DOCTYPE" not in strip_doctype(two).upper()
    quoted = b'<!DOCTYPE a [<!ENTITY x "]>"> <!ENTITY y \'>\'>]>' + rss()
    assert strip_doctype(quoted) == rss()
    hostile = b"<!DOCTYPE a " + b'"x ' * 5001 + b"<rss/>"  # unterminated, unbalanced quotes
    t0 = time.perf_counter()
    assert strip_doctype(hostile) == b"<rss/>"
    assert time.perf_counter() - t0 < 5
    assert strip_doctype(b"<!DOCTYPE") == b""


def test_doctype_hidden_after_a_comment_is_stripped_but_lookalikes_in_content_stay() -> None:
    hidden = b'<?xml version="1.0"?><!-- <rss> --><!DOCTYPE r [<!ENTITY a "AAAA">]>' + rss().split(b"?>", 1)[1]
    assert b"ENTITY" not in strip_doctype(hidden) and b"<!-- <rss> -->" in strip_doctype(hidden)
    cdata = rss('<item><title>t</title><description><![CDATA[ <!DOCTYPE ]]></description>'
                '<link>https://agency.example/1</link></item>')
    assert strip_doctype(cdata) == cdata
    assert parse_document(cdata, {}).entries[0].summary_html == "<!DOCTYPE"


def test_empty_feeds_are_feeds_with_no_entries() -> None:
    for doc in (b"<rss version='2.0'><channel><title>T</title></channel></rss>", b"<rss></rss>",
                b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title></feed>',
                b"<CHANNEL><TITLE>Example feed</TITLE></CHANNEL>"):
        assert parse_document(doc, {"content-type": "text/xml"}).entries == (), doc


def test_external_entities_are_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    for system in (secret.as_uri(), str(secret)):
        body = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "{system}">]>'
                '<rss version="2.0"><channel><title>t</title><item><title>a &xxe; b</title>'
                '<description>&xxe;</description><link>https://agency.example/1</link></item></channel></rss>'
                ).encode()
        feed = parse_document(body, {})
        text = repr(feed)
        assert "TOP-SECRET-MARKER" not in text
        assert feed.entries[0].link == "https://agency.example/1"


def test_charset_order_bom_then_header_then_declaration() -> None:
    text = "Bakı – Ağdam"
    doc = f'<?xml version="1.0" encoding="iso-8859-9"?><rss version="2.0"><channel><title>{text}</title>' \
          f'<item><title>{text}</title><link>https://a.example/1</link></item></channel></rss>'
    # BOM beats everything.
    utf8_bom = b"\xef\xbb\xbf" + doc.encode("utf-8")
    assert declared_encodings(utf8_bom, "text/xml; charset=iso-8859-1")[0] == "utf-8"
    assert parse_document(utf8_bom, {"content-type": "text/xml; charset=iso-8859-1"}).entries[0].title == text
    # Header beats the declaration.
    assert decode_xml(doc.encode("cp1254", "replace"), "application/xml; charset=cp1254")[1] == "cp1254"
    # Declaration when the header says nothing.
    latin5 = doc.replace("–", "-").encode("iso-8859-9")
    assert parse_document(latin5, {"content-type": "application/rss+xml"}).entries[0].title == text.replace("–", "-")
    # UTF-16 with a BOM and no header.
    u16 = doc.replace("iso-8859-9", "utf-16").encode("utf-16")
    assert parse_document(u16, {}).entries[0].title == text
    # UTF-16 without a BOM: the first bytes tell (XML 1.0 Appendix F), also the byte order under "utf-16".
    for declared in ("utf-16be", "utf-16", "u16"):
        u16be = doc.replace("iso-8859-9", declared).encode("utf-16-be")
        assert parse_document(u16be, {}).entries[0].title == text
        u16le = doc.replace("iso-8859-9", declared).encode("utf-16-le")
        assert parse_document(u16le, {}).entries[0].title == text


def test_lying_charsets_still_give_readable_text() -> None:
    text = "Café déjà vu"
    doc = rss(RSS_ITEM.format(title=text, n=1), decl='<?xml version="1.0" encoding="utf-8"?>')
    # Claims UTF-8 in header and declaration, but the bytes are windows-1252.
    lie = doc.decode("utf-8").encode("cp1252")
    text_out, enc, note = decode_xml(lie, "application/rss+xml; charset=utf-8")
    assert enc == "cp1252" and note and text in text_out
    assert parse_document(lie, {"content-type": "application/rss+xml; charset=utf-8"}).entries[0].title == text
    # Claims ISO-8859-1 but the bytes are UTF-8: taken as UTF-8, not mojibake.
    assert parse_document(doc, {"content-type": "text/xml; charset=iso-8859-1"}).entries[0].title == text
    # An encoding nobody knows.
    bogus = doc.replace(b'encoding="utf-8"', b'encoding="x-klingon"')
    assert parse_document(bogus, {}).entries[0].title == text


def test_xml_illegal_control_characters_do_not_break_parsing() -> None:
    doc = rss(RSS_ITEM.format(title="bad\x0bchar\x00", n=1))
    feed = parse_document(doc, {})
    assert feed.entries[0].title == "badchar" and feed.problem is None


@pytest.mark.parametrize(("body", "ctype", "needle"), [
    (b"<!doctype html><html><head><title>Oops</title></head><body>Hi</body></html>", "text/html", "text/html"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "\\x89PNG"),
    (b"", "application/rss+xml", "empty body"),
    (b"   \n", None, "empty body"),
    (b'{"hello": "world"}', "application/json", "items"),
    (b"just some text", "text/plain", "just some text"),
])
def test_not_a_feed_is_an_error_naming_what_came_back(body: bytes, ctype: str | None, needle: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_document(body, {"content-type": ctype} if ctype else {})
    assert str(err.value).startswith("not a feed") and needle in str(err.value)


def test_describe_body_names_status_type_and_first_bytes() -> None:
    out = describe_body(b"<html>nope</html>", "text/html; charset=utf-8", 200)
    assert out == "HTTP 200, content type text/html; charset=utf-8, 17 bytes, starting '<html>nope</html>'"


def test_ill_formed_feed_yields_recoverable_items_and_the_complaint() -> None:
    broken = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
              b'<item><title>One & two</title><link>https://a.example/1</link></item>'
              b'<item><title>Three</title><link>https://a.example/2</link></item>'
              b'<item><title>Unclosed</title><link>https://a.example/3</link>')
    feed = parse_document(broken, {"content-type": "application/rss+xml"})
    assert [e.link for e in feed.entries] == ["https://a.example/1", "https://a.example/2", "https://a.example/3"]
    assert feed.problem and "SAXParseException" in feed.problem


POLICY = PartnerPolicy(id="p", name="P", credit="P agency")
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def entry(guid: str | None, link: str | None, title: str) -> ParsedEntry:
    return ParsedEntry(guid=guid, link=link, title=title, content_html=f"<p>{title} body</p>", summary_html=None)


def test_duplicate_ids_same_item_keeps_one_and_rejects_the_rest() -> None:
    feed = ParsedFeed(None, "https://a.example/", None, (
        entry("id-1", "https://a.example/1", "One"),
        entry("id-1", "https://a.example/1", "One again"),
        entry("id-2", "https://a.example/2", "Two"),
        entry("id-1", "https://a.example/1", "One thrice"),
    ), "rss")
    items, rejected = normalise_feed(feed, POLICY, now=NOW)
    assert [i.title for i in items] == ["One", "Two"]
    assert [r.reason for r in rejected] == ["duplicate of entry 1 in the same document"] * 2
    assert all(r.guid == "id-1" for r in rejected)


def test_different_items_sharing_an_id_keep_both_with_fallback_identity() -> None:
    shared = (entry("same", "https://a.example/1", "One"), entry("same", "https://a.example/2", "Two"))
    items, rejected = normalise_feed(ParsedFeed(None, None, None, shared + (entry("u", "https://a.example/3", "U"),),
                                                "rss"), POLICY, now=NOW)
    assert [i.title for i in items] == ["One", "Two", "U"] and rejected == []
    keys = [k for k, _ in assign_keys(shared)]
    assert len(set(keys)) == 2 and all(k and not k.startswith("g:") or k for k in keys)
    # The shared guid does not identify: the same entries alone under their links get the same keys again.
    again = assign_keys((entry("same", "https://a.example/1", "One"), entry("same", "https://a.example/2", "Two")))
    assert [k for k, _ in again] == keys
    # A repeat of one of them is rejected, and the identities do not move when the repeat appears or goes.
    repeated = assign_keys((shared[0], shared[0], shared[1]))
    assert [k for k, _ in repeated] == [keys[0], None, keys[1]]
    assert repeated[1][1] == "duplicate of entry 1 in the same document"


def test_is_blocked_ip_covers_every_non_public_range() -> None:
    blocked = [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
        "100.64.0.1", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
        "::1", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2001:db8::1", "not-an-ip",
    ]
    for address in blocked:
        assert is_blocked_ip(address), address
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34", "1.1.1.1"):
        assert not is_blocked_ip(address), address
