"""[hardening] 2: hostile input gets a 4xx in our error shape, never a 500, the same on SQLite and PostgreSQL,
and nothing of a refused push is stored. Ends with a hypothesis fuzz of the push API."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from syndication.db.models import Event, Item, ItemVersion, Notice, Story
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.builders import rss, rss_item

ITEMS = "/api/v1/partners/turan/items"
PARTNERS = [{"id": "turan", "name": "Turan", "credit": "Turan news agency", "sources": [{"kind": "push"}]}]
STORED = (Item, ItemVersion, Event, Notice, Story)


@dataclass
class Env:
    rt: Runtime
    app: FastAPI
    client: TestClient
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def counts(self) -> dict[str, int]:
        with self.rt.sessions() as session:
            return {m.__tablename__: int(session.scalar(select(func.count()).select_from(m)) or 0) for m in STORED}


@pytest.fixture
def env(make_runtime: Callable[..., Runtime], database_url: str) -> Iterator[Env]:
    rt = make_runtime(database_url=database_url, partners=PARTNERS,
                      api={"rate_limit_per_minute": 100_000}, auth={"max_failures": 100_000})
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    app = create_app(rt)
    # No server exception may reach the client: each must be an answer (a 500 would be one too, and fail).
    client = TestClient(app, raise_server_exceptions=False)
    yield Env(rt, app, client, key)
    client.close()


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    assert isinstance(body["detail"], str) and 0 < len(body["detail"]) < 2000, body
    return dict(body)


def json_item(**over: Any) -> dict[str, Any]:
    item = {"id": "story-1", "url": "https://turan.example/news/1", "title": "A story",
            "content_html": "<p>BAKU, 4 February – Body.</p>", "date_published": "2026-11-20T09:00:00Z"}
    item.update(over)
    return item


def doc(*items: dict[str, Any]) -> str:
    return json.dumps({"items": list(items)})


GOOD = json_item(id="good-one", url="https://turan.example/news/good")


LONG = 2500  # past the 2,000 characters of the id and URL columns


HOSTILE_PUSHES = [
    # (name, content type, body, status, error code)
    ("json nested 100,000 deep", "application/json", "[" * 100_000 + "]" * 100_000, 422, "unparseable_document"),
    ("items nested 100,000 deep", "application/json", '{"items": [' + "[" * 100_000 + "]" * 100_000 + "]}", 422,
     "unparseable_document"),
    ("an integer id of 5,000 digits", "application/json", '{"items": [{"id": ' + "7" * 5000 + ', "title": "t"}]}',
     422, "unparseable_document"),
    ("an integer id of 4,000 digits", "application/json", '{"items": [{"id": ' + "7" * 4000 + ', "title": "t"}]}',
     422, "invalid_items"),
    # Beside a good item: all or nothing, so the good one is not stored either.
    ("a string id over 2,000 characters", "application/json", doc(GOOD, json_item(id="i" * LONG)), 422,
     "invalid_items"),
    ("a URL over 2,000 characters", "application/json",
     doc(GOOD, json_item(url="https://turan.example/" + "u" * LONG)), 422, "invalid_items"),
    ("an original agency over 300 characters", "application/json",
     doc(GOOD, json_item(_syndication={"original_agency": "A" * 400})), 422, "invalid_items"),
    ("an RSS guid over 2,000 characters", "application/rss+xml", rss([rss_item(0), rss_item(1, guid="g" * LONG)]),
     422, "invalid_items"),
    ("an RSS link over 2,000 characters", "application/rss+xml",
     rss([rss_item(0), rss_item(1, guid="", link="https://turan.example/" + "l" * LONG)]), 422, "invalid_items"),
]


@pytest.mark.parametrize("case", HOSTILE_PUSHES, ids=[c[0] for c in HOSTILE_PUSHES])
def test_hostile_pushes_are_refused_whole_on_both_databases(env: Env, case: tuple[str, str, str, int, str]) -> None:
    name, ctype, body, status, code = case
    before = env.counts()
    resp = env.client.post(ITEMS, content=body, headers={**env.auth, "Content-Type": ctype})
    assert_error(resp, status, code)
    assert env.counts() == before, name
    # The same partner can push a good document right after.
    ok = env.client.post(ITEMS, content=doc(GOOD), headers={**env.auth, "Content-Type": "application/json"})
    assert ok.status_code == 202, ok.text


def test_hostile_paths_get_4xx_on_both_databases(env: Env) -> None:
    jobs.publish_all(env.rt)  # the feeds directory exists, so a long name reaches the filesystem's lookup
    pushed = env.client.post(ITEMS, content=doc(json_item()), headers={**env.auth, "Content-Type": "application/json"})
    assert pushed.status_code == 202
    get = env.client.get
    assert_error(get("/items/99999999999999999999999"), 422, "invalid_request")
    assert_error(get("/items/" + "9" * 5000), 422, "invalid_request")
    assert_error(get("/items/-1"), 422, "invalid_request")
    assert_error(get("/items/not-a-number"), 422, "invalid_request")
    assert_error(get("/items/2147483647"), 404, "not_found")  # in range, no such item
    assert_error(get("/items/2147483648"), 422, "invalid_request")  # past INTEGER on PostgreSQL
    assert_error(get("/feeds/" + "a" * 300 + ".atom"), 404, "not_found")
    assert_error(get("/feeds/" + "b" * 60_000 + ".atom"), 404, "not_found")
    assert_error(get("/feeds/partners/" + "c" * 256 + ".rss"), 404, "not_found")
    assert get("/feeds/all.atom").status_code == 200
    api = "/api/v1/partners/turan"
    assert_error(env.client.delete(f"{api}/sources/" + "9" * 5000, headers=env.auth), 422, "invalid_request")
    assert_error(env.client.delete(f"{api}/sources/99999999999999999999999", headers=env.auth), 422,
                 "invalid_request")
    assert_error(env.client.delete(f"{api}/sources/123456", headers=env.auth), 404, "not_found")
    long_url = "https://turan.example/" + "f" * LONG
    assert_error(env.client.post(f"{api}/sources", json={"url": long_url}, headers=env.auth), 422, "invalid_request")
    assert_error(env.client.post(f"{api}/sources", content="[" * 60_000, headers=env.auth), 422, "invalid_request")
    assert_error(env.client.post(f"{api}/sources", content='{"url": "https://x.example/", "interval": ' + "9" * 5000
                                 + "}", headers=env.auth), 422, "invalid_request")
    # An id of any length is only looked up (never stored): unknown, and not echoed back whole.
    body = assert_error(get(f"{api}/items/" + "k" * 5000, headers=env.auth), 404, "not_found")
    assert len(body["detail"]) < 300


def test_an_unexpected_error_is_answered_in_our_shape_and_logged_with_the_path_cut(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    @env.app.get("/test-boom/{rest:path}")
    def boom(rest: str) -> None:
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO)
    resp = env.client.get("/test-boom/" + "p" * 60_000)
    assert_error(resp, 500, "internal_error")
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]  # not the test's client
    assert any("/test-boom/" in line for line in lines), lines
    assert all(len(line) < 1000 for line in lines), max(len(line) for line in lines)


# ---------------------------------------------------------------- fuzz
# Documents are mostly plausible (so that many are stored and the "nothing half-stored" check has work),
# with hostile values mixed in: wrong types, long strings, odd dates, deep nesting, broken XML, random bytes,
# and headers that do not match.

ITEM_KEYS = ["url", "external_url", "title", "content_html", "content_text", "summary", "image", "date_published",
             "date_modified", "language", "author", "authors", "tags", "attachments", "status", "guid"]
EXT_KEYS = ["status", "change_note", "embargo_until", "original_agency", "image_credit", "other"]
ODD_STRINGS = ["2026-11-20T09:00:00Z", "Fri, 20 Nov 2026 09:00:00 GMT", "0001-01-01T00:00:00Z",
               "9999-12-31T23:59:59Z", "not a date", "withdrawn", "corrected", "https://turan.example/a",
               "javascript:alert(1)", "/relative/path", "", " ", "x" * 2100, "<p>BAKU – text</p>", "\u202e\x00"]

text = st.text(max_size=30)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
                    st.floats(allow_nan=False, allow_infinity=False), text, st.sampled_from(ODD_STRINGS))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=12,
)
hostile = st.sampled_from(ODD_STRINGS)
plausible = {
    "url": st.builds(lambda s: f"https://turan.example/news/{s}", st.text(alphabet="abc123/-?=&#", max_size=12)),
    "title": text, "content_html": st.builds(lambda s: f"<p>{s}</p>", text), "content_text": text,
    "summary": text, "date_published": st.sampled_from(["2026-11-20T09:00:00Z", "Fri, 20 Nov 2026 09:00:00 GMT"]),
    "language": st.sampled_from(["en", "az", "en-GB", "EN_us", "x" * 40, ""]),
    "authors": st.lists(st.fixed_dictionaries({"name": text}), max_size=2), "tags": st.lists(text, max_size=3),
}
ids = st.one_of(st.text(min_size=1, max_size=20), st.integers(min_value=0, max_value=10**40),
                st.sampled_from(["i" * 2100, 10**3000]))
extension = st.dictionaries(st.sampled_from(EXT_KEYS), st.one_of(scalars, st.sampled_from(["withdrawn", "canceled"])),
                            max_size=4)
# The fields every item has are mostly plausible, a hostile value one time in three; the others are anything.
items = st.fixed_dictionaries(
    {"id": ids, **{k: st.one_of(plausible[k], plausible[k], hostile)
                   for k in ("title", "content_html", "url", "date_published")}},
    optional={**{k: st.one_of(plausible[k], json_values) if k in plausible else json_values
                 for k in ITEM_KEYS if k not in ("title", "content_html", "url", "date_published")},
              "_syndication": st.one_of(extension, json_values)},
)
json_documents = st.one_of(
    st.fixed_dictionaries({"items": st.lists(st.one_of(items, items, items, json_values), max_size=4)},
                          optional={"version": st.sampled_from(["https://jsonfeed.org/version/1.1", "1"]),
                                    "title": scalars, "language": scalars, "home_page_url": scalars}),
    json_values,
).map(lambda d: json.dumps(d).encode())

xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)


@st.composite
def xml_documents(draw: st.DrawFn) -> bytes:
    from html import escape

    def element(tag: str) -> str:
        value = draw(st.one_of(xml_text.map(escape), st.sampled_from([escape(s) for s in ODD_STRINGS]),
                               st.just("<![CDATA[<p>x</p>]]>")))
        return f"<{tag}>{value}</{tag}>"

    n = draw(st.integers(min_value=0, max_value=3))
    if draw(st.booleans()):
        tags = st.lists(st.sampled_from(["link", "guid", "description", "pubDate", "category", "author"]), max_size=5)
        entries = "".join("<item>" + element("title") + "".join(element(t) for t in draw(tags)) + "</item>"
                          for _ in range(n))
        body = f'<rss version="2.0"><channel>{element("title")}{entries}</channel></rss>'
    else:
        tags = st.lists(st.sampled_from(["id", "updated", "published", "summary", "content"]), max_size=5)
        entries = "".join("<entry>" + element("title") + "".join(element(t) for t in draw(tags)) + "</entry>"
                          for _ in range(n))
        body = f'<feed xmlns="http://www.w3.org/2005/Atom">{element("title")}{entries}</feed>'
    if draw(st.integers(min_value=0, max_value=4)) == 0:  # now and then broken on purpose
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    return ('<?xml version="1.0" encoding="utf-8"?>' + body).encode()


header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30)
JSON_TYPES = ["application/json", "application/feed+json", "application/json; charset=utf-8"]
XML_TYPES = ["application/rss+xml", "application/atom+xml", "application/xml", "text/xml",
             "text/xml; charset=iso-8859-1", "text/xml; charset=bogus"]
extra_headers = st.dictionaries(
    st.sampled_from(["Content-Encoding", "Accept", "Accept-Encoding", "X-Forwarded-For", "Origin", "Cookie",
                     "If-None-Match", "Content-Language"]),
    header_values, max_size=2,
)


@st.composite
def pushes(draw: st.DrawFn) -> tuple[bytes, str]:
    kind = draw(st.sampled_from(["json", "json", "xml", "bytes"]))
    body = draw(json_documents if kind == "json" else xml_documents() if kind == "xml" else st.binary(max_size=200))
    matching = JSON_TYPES if kind == "json" else XML_TYPES
    ctype = draw(st.one_of(st.sampled_from(matching), st.sampled_from(matching), st.sampled_from(matching),
                           st.sampled_from(JSON_TYPES + XML_TYPES + ["text/plain", ""]), header_values))
    return body, ctype


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(push=pushes(), headers=extra_headers)
def test_fuzzed_pushes_never_answer_5xx_nor_store_half(env: Env, push: tuple[bytes, str],
                                                       headers: dict[str, str]) -> None:
    body, ctype = push
    before = env.counts()
    resp = env.client.post(ITEMS, content=body, headers={**headers, **env.auth, "Content-Type": ctype})
    event(f"status {resp.status_code}")
    assert resp.status_code < 500, (resp.status_code, resp.text[:500], body[:300])
    after = env.counts()
    if resp.status_code != 202:
        assert set(resp.json()) == {"error", "detail"}, resp.text[:300]
        assert after == before, "a refused push stored something"
        return
    results = resp.json()["items"]
    created = sum(r["status"] == "new" for r in results)
    assert after["items"] - before["items"] == created  # every item answered "new" is stored, and only those
    changed = sum(r["status"] in ("new", "updated") for r in results)
    assert after["events"] - before["events"] == changed  # one outbox event per new or changed item


def test_items_dated_at_the_ends_of_time_are_stored_on_both_databases(env: Env) -> None:
    """Found by the fuzz test: story matching's window (published ± 72 h) overflowed for year 1 and 9999."""
    for i, date in enumerate(("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z")):
        item = json_item(id=f"edge-{i}", url=f"https://turan.example/edge/{i}", date_published=date)
        resp = env.client.post(ITEMS, content=doc(item), headers={**env.auth, "Content-Type": "application/json"})
        assert resp.status_code == 202, resp.text
        assert resp.json()["items"][0]["status"] == "new"
