"""No character XML 1.0 forbids reaches a stored item or a published document, whatever the intake.

The Char production of XML 1.0 excludes the C0 controls but tab, LF and CR, the surrogates and U+FFFE/U+FFFF.
A partner's text carries them raw (where its format can: JSON) or as character references (`&#1;`, `&#xFFFE;`,
`&#xD800;`, in HTML or in text the pipeline decodes). Each is spread through the words of every free-text field
of a pushed JSON and Atom item, a polled RSS item, a ninjs and a NewsML-G2 item; the words come out whole (the
characters dropped, no U+FFFD in their place) in the stored item and in every published format, each XML
document parsed by lxml."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from syndication.db.models import Item, Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.conftest import FeedServer

RAW = ("\x01", "\x1b", "\ufffe", "\uffff", "\ud800")
# As an HTML parser reads them: "&#27" needs no ";" (the next letter is no digit).
REFERENCES = ("&#1;", "&#xFFFE;", "&#xD800;", "&#0;", "&#27", "&#65535;", "&#x110000;")
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff\ufffd]")
# What a reference to one of them would look like in a published document's text (HTML in Atom or JSON).
FORBIDDEN_REFERENCE = re.compile(r"&#(?:0*(?:[0-8]|1[1-24-9]|2\d|3[01]|6553[45]|5[5-7]\d{3})|x0*(?:[0-8bcef]|1[0-9a-f]"
                                 r"|d[89a-f][0-9a-f]{2}|fff[ef]|11[0-9a-f]{4}))(?![0-9a-f])", re.I)

PUSH, FEED = "turan", "polled"
PARTNERS = [
    {"id": PUSH, "name": "Turan", "credit": "Turan news agency", "sources": [{"kind": "push"}]},
]


def spread(word: str, forms: Sequence[str]) -> str:
    """`word` with the forms between its letters, cycling: "Harbour" -> "H<f1>a<f2>r…"."""
    out = [word[0]]
    for i, letter in enumerate(word[1:]):
        out += [forms[i % len(forms)], letter]
    return "".join(out)


@dataclass
class Env:
    rt: Runtime
    client: TestClient
    key: str

    def push(self, body: str | bytes, ctype: str) -> None:
        r = self.client.post(f"/api/v1/partners/{PUSH}/items", content=body,
                             headers={"Authorization": f"Bearer {self.key}", "Content-Type": ctype})
        assert r.status_code == 202, r.text
        assert all(i["status"] == "new" for i in r.json()["items"]), r.text

    def item(self, guid: str) -> Item:
        with self.rt.sessions() as session:
            row = session.scalar(select(Item).where(Item.guid == guid))
            assert row is not None, guid
            return row


@pytest.fixture
def env(make_runtime: Callable[..., Runtime], feed_server: FeedServer, database_url: str) -> Iterator[Env]:
    feed_server.add_feed("/polled.rss", b"")
    rt = make_runtime(
        database_url=database_url,
        partners=[*PARTNERS, {"id": FEED, "name": "Polled", "credit": "Polled Agency",
                              "sources": [{"kind": "feed", "url": feed_server.url("/polled.rss")}]}],
    )
    with transaction(rt.sessions) as session:
        key = issue_key(session, PUSH, load_pepper(rt.settings), utcnow()).key
    client = TestClient(create_app(rt))
    yield Env(rt, client, key)
    client.close()


def stored_text(row: Item) -> str:
    return json.dumps([row.title, row.content_html, row.summary, row.authors, row.categories, row.attribution],
                      ensure_ascii=False)


def assert_clean_everywhere(env: Env, guid: str, words: dict[str, Sequence[str]]) -> None:
    """The stored item and every published document: no forbidden character nor a reference to one, no U+FFFD;
    each word whole in its stored field (`words`: field -> words); those of the title and body in every format,
    the others in one at least (a summary, authors, categories: not every format carries each), but the
    attribution's (parts of it are not published)."""
    row = env.item(guid)
    text = stored_text(row)
    assert not FORBIDDEN.findall(text), FORBIDDEN.findall(text)
    assert not FORBIDDEN_REFERENCE.findall(text), text
    for field, expected in words.items():
        where = text if not field else json.dumps(getattr(row, field), ensure_ascii=False)
        for word in expected:
            assert word in where, (field, word, where[:2000])
    jobs.publish_all(env.rt)
    published = read_published(env.rt.settings.feeds_dir)
    assert {".atom", ".rss", ".json", ".ninjs.json"} <= set(published), sorted(published)
    everywhere = [w for f in ("title", "content_html") for w in words.get(f, ())]
    for kind, texts in published.items():
        joined = "\n".join(texts)
        assert not FORBIDDEN.findall(joined), (kind, FORBIDDEN.findall(joined))
        assert not FORBIDDEN_REFERENCE.findall(joined), (kind, FORBIDDEN_REFERENCE.findall(joined))
        for word in everywhere:
            assert word in joined, (kind, word)
    every_format = "\n".join(t for texts in published.values() for t in texts)
    for word in (w for f, ws in words.items() if f != "attribution" for w in ws):
        assert word in every_format, word


def read_published(feeds: Path) -> dict[str, list[str]]:
    """Each published document's text by format, after parsing it: lxml for XML (which refuses a forbidden
    character), json for JSON Feed and ninjs."""
    out: dict[str, list[str]] = {}
    for path in sorted(feeds.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        kind = ".ninjs.json" if path.name.endswith(".ninjs.json") else path.suffix
        if kind in (".atom", ".rss"):
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
            texts = [*root.itertext(), *(v for el in root.iter() for v in el.attrib.values())]
            out.setdefault(kind, []).append("\n".join(texts))
        elif kind in (".json", ".ninjs.json"):
            out.setdefault(kind, []).append(json.dumps(json.loads(data), ensure_ascii=False))
    return out


def html_body(forms: Sequence[str]) -> str:
    """A body whose words, dateline, source and photo credit lines carry the forms."""
    return (f"<p>{spread('BAKU', forms)}, 30 November – The {spread('harbour', forms)} reopens "
            f'<a href="https://turan.example/x" title="{spread("Pier", forms)}">today</a>.</p>'
            f"<p>{spread('Second', forms)} paragraph.</p>"
            f"<p>source: example.org with {spread('Caspian', forms)} news agency, Baku.</p>"
            f"<p>photo: {spread('Quayside', forms)} (picture courtesy of {spread('Lensman', forms)})</p>")


BODY_WORDS = {"content_html": ("harbour", "Second", "BAKU", "Pier"),
              "attribution": ("Caspian", "Lensman")}


@pytest.mark.parametrize("forms", [RAW, REFERENCES], ids=["raw", "references"])
def test_pushed_json_item(env: Env, forms: Sequence[str]) -> None:
    # Plain-text fields (JSON Feed's authors and tags, our extension's credits) take a reference as text, as
    # every reader of them does: the forms go there raw only.
    plain = forms if forms is RAW else ("",)
    item = {
        "id": "json-1", "url": "https://turan.example/news/json-1",
        "title": spread("Harbour reopens", forms),
        "content_html": html_body(forms),
        "summary": spread("Ships return", forms),
        "date_published": "2026-11-30T09:00:00Z",
        "authors": [{"name": spread("Leyla Aliyeva", plain)}],
        "tags": [spread("politics", plain)],
        "_syndication": {"image_credit": spread("Kamran", plain), "original_agency": spread("Azertac", plain)},
    }
    env.push(json.dumps({"items": [item]}), "application/json")
    assert_clean_everywhere(env, "json-1", {
        **BODY_WORDS, "title": ("Harbour reopens",), "summary": ("Ships return",), "authors": ("Leyla Aliyeva",),
        "categories": ("politics",), "attribution": (*BODY_WORDS["attribution"], "Kamran", "Azertac"),
    })


def test_pushed_atom_item(env: Env) -> None:
    # XML carries none of these characters raw, nor as its own references: HTML escaped into the XML does.
    forms = REFERENCES
    title = escape(spread("Harbour reopens", forms))
    doc = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<id>tag:turan.example,2026:feed</id><title>Turan</title><updated>2026-11-30T09:00:00Z</updated>"
        "<entry><id>tag:turan.example,2026:1</id>"
        f'<title type="html">{title}</title>'
        '<link rel="alternate" href="https://turan.example/a/1"/>'
        "<updated>2026-11-30T09:00:00Z</updated><published>2026-11-30T09:00:00Z</published>"
        "<author><name>Leyla Aliyeva</name></author><category term=\"politics\"/>"
        f'<summary type="html">{escape(spread("Ships return", forms))}</summary>'
        f'<content type="html">{escape(html_body(forms))}</content></entry></feed>'
    )
    env.push(doc, "application/atom+xml")
    assert_clean_everywhere(env, "tag:turan.example,2026:1",
                            {**BODY_WORDS, "title": ("Harbour reopens",), "summary": ("Ships return",)})


def test_polled_rss_item(env: Env, feed_server: FeedServer) -> None:
    forms = REFERENCES
    doc = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Polled</title>'
        "<link>https://polled.example/</link><description>d</description>"
        f"<item><title>{escape(spread('Harbour reopens', forms))}</title>"
        "<link>https://polled.example/news/1</link><guid isPermaLink=\"false\">polled-1</guid>"
        "<pubDate>Mon, 30 Nov 2026 09:00:00 GMT</pubDate>"
        f"<description>{escape(html_body(forms))}</description></item></channel></rss>"
    )
    feed_server.add_feed("/polled.rss", doc)
    with env.rt.sessions() as session:
        sid = session.scalar(select(Source.id).where(Source.partner_id == FEED))
    report = jobs.poll_source(env.rt, sid)
    assert report.new == 1, report
    assert_clean_everywhere(env, "polled-1", {**BODY_WORDS, "title": ("Harbour reopens",)})


@pytest.mark.parametrize("forms", [RAW, REFERENCES], ids=["raw", "references"])
def test_pushed_ninjs_item(env: Env, forms: Sequence[str]) -> None:
    plain = forms if forms is RAW else ("",)  # as for JSON Feed: ninjs's plain-text fields (descriptions too)
    item = {
        "uri": "https://turan.example/news/ninjs-1", "type": "text", "version": "1",
        "firstcreated": "2026-11-30T08:00:00Z", "versioncreated": "2026-11-30T09:00:00Z",
        "headlines": [{"role": "main", "value": spread("Harbour reopens", forms)}],
        "descriptions": [{"role": "summary", "value": spread("Ships return", plain)},
                         {"role": "creditline", "value": spread("Wire Photo", plain)}],
        "bodies": [{"contenttype": "text/html", "value": html_body(forms)}],
        "by": spread("Leyla Aliyeva", plain), "copyrightholder": spread("Caspian Wire", plain),
        "located": spread("Sumqayit", plain), "copyrightnotice": spread("Copyright Caspian", plain),
        "subjects": [{"name": spread("politics", plain)}],
    }
    env.push(json.dumps({"items": [item]}), "application/ninjs+json")
    assert_clean_everywhere(env, "https://turan.example/news/ninjs-1", {
        **BODY_WORDS, "title": ("Harbour reopens",), "summary": ("Ships return",), "authors": ("Leyla Aliyeva",),
        "attribution": (*BODY_WORDS["attribution"], "Caspian Wire", "Wire Photo", "Sumqayit", "Copyright Caspian"),
    })


G2 = "http://iptc.org/std/nar/2006-10-01/"


def test_pushed_newsml_item(env: Env) -> None:
    # XML again: the forms travel in HTML escaped into inlineData and in the headline (read as HTML).
    forms = REFERENCES
    doc = f"""<?xml version="1.0" encoding="UTF-8"?>
<newsItem xmlns="{G2}" guid="urn:newsml:turan:1" version="1" standard="NewsML-G2" standardversion="2.35" xml:lang="en">
  <rightsInfo><copyrightHolder><name>Turan</name></copyrightHolder></rightsInfo>
  <itemMeta><itemClass qcode="ninat:text"/><provider qcode="nprov:TU"/>
    <versionCreated>2026-11-30T09:00:00Z</versionCreated><pubStatus qcode="stat:usable"/></itemMeta>
  <contentMeta><headline>{escape(spread('Harbour reopens', forms))}</headline>
    <subject qcode="medtop:11000000"><name>politics</name></subject></contentMeta>
  <contentSet><inlineData contenttype="text/html">{escape(html_body(forms))}</inlineData></contentSet>
</newsItem>"""
    env.push(doc, "application/vnd.iptc.g2.newsitem+xml")
    assert_clean_everywhere(env, "urn:newsml:turan:1", {**BODY_WORDS, "title": ("Harbour reopens",)})
