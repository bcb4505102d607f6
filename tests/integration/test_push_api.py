"""The partner push API over real HTTP (FastAPI TestClient) against real SQLite and PostgreSQL runtimes."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from syndication.db.models import Event, Item, ItemVersion, PushKey, Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper, revoke_keys
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.builders import atom, rss, rss_item
from tests.conftest import FeedServer

PARTNERS = [
    {"id": "turan", "name": "Turan", "credit": "Turan news agency", "sources": [{"kind": "push"}]},
    {"id": "commonspace", "name": "Commonspace", "sources": [{"kind": "push"}]},
    {"id": "nopush", "name": "No Push"},
]
PARTNER_IDS = ("turan", "commonspace", "nopush")
ITEMS = "/api/v1/partners/{}/items"
SOURCES = "/api/v1/partners/{}/sources"


@dataclass
class Env:
    rt: Runtime
    client: TestClient
    keys: dict[str, str]

    def auth(self, partner: str = "turan") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[partner]}"}

    def push(self, body: str | bytes, ctype: str, partner: str = "turan", key_of: str | None = None) -> Any:
        headers = {**self.auth(key_of or partner), "Content-Type": ctype}
        return self.client.post(ITEMS.format(partner), content=body, headers=headers)

    def push_json(self, doc: Any, partner: str = "turan") -> Any:
        return self.push(json.dumps(doc), "application/json", partner)

    def count(self, model: Any) -> int:
        with self.rt.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def item(self, guid: str, partner: str = "turan") -> Item:
        with self.rt.sessions() as session:
            row = session.scalar(select(Item).where(Item.partner_id == partner, Item.guid == guid))
            assert row is not None, guid
            return row


def new_key(rt: Runtime, partner: str) -> str:
    with transaction(rt.sessions) as session:
        return issue_key(session, partner, load_pepper(rt.settings), utcnow()).key


@pytest.fixture
def env_factory(make_runtime: Callable[..., Runtime]) -> Iterator[Callable[..., Env]]:
    clients: list[TestClient] = []

    def _make(**overrides: Any) -> Env:
        rt = make_runtime(partners=PARTNERS, **overrides)
        keys = {pid: new_key(rt, pid) for pid in PARTNER_IDS}
        client = TestClient(create_app(rt))
        clients.append(client)
        return Env(rt, client, keys)

    yield _make
    for c in clients:
        c.close()


@pytest.fixture
def env(env_factory: Callable[..., Env]) -> Env:
    return env_factory()


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return dict(body)


def json_item(i: int, **ext: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"push-{i}",
        "url": f"https://turan.example/news/{i}",
        "title": f"Pushed story {i}",
        "content_html": f"<p>BAKU, 4 February – Pushed body {i}.</p><p>More text {i}.</p>",
        "date_published": "2026-11-20T09:00:00Z",
        "authors": [{"name": f"Writer {i}"}],
        "tags": ["politics"],
    }
    if ext:
        item["_syndication"] = ext
    return item


# ---------------------------------------------------------------- happy paths


def test_push_rss_stores_items_before_answering(env: Env) -> None:
    resp = env.push(rss(3), "application/rss+xml; charset=utf-8")
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"items": [{"id": f"agency-{i}", "status": "new", "reason": None} for i in range(3)]}
    row = env.item("agency-1")
    assert row.title == "Story 1"
    assert row.attribution["credit"] == "Turan news agency"
    with env.rt.sessions() as session:
        push_source = session.scalar(select(Source.id).where(Source.partner_id == "turan", Source.kind == "push"))
        assert row.source_id == push_source
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "item.created")) == 3


def test_push_atom(env: Env) -> None:
    resp = env.push(atom(2), "application/atom+xml")
    assert resp.status_code == 202, resp.text
    assert [r["status"] for r in resp.json()["items"]] == ["new", "new"]
    assert [r["id"] for r in resp.json()["items"]] == ["tag:agency.example,2026:0", "tag:agency.example,2026:1"]
    assert env.item("tag:agency.example,2026:1").authors == ["Writer 1"]


@pytest.mark.parametrize("ctype", ["application/xml", "text/xml"])
def test_push_generic_xml_types(env: Env, ctype: str) -> None:
    resp = env.push(rss(1), ctype)
    assert resp.status_code == 202, resp.text
    assert resp.json()["items"][0]["status"] == "new"


def test_push_json_feed_with_syndication_fields(env: Env) -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Turan",
        "home_page_url": "https://turan.example/",
        "items": [
            json_item(1, embargo_until="2099-01-01T00:00:00Z", original_agency="APA", image_credit="contact.az"),
            json_item(2),
        ],
    }
    resp = env.push(json.dumps(doc), "application/feed+json")
    assert resp.status_code == 202, resp.text
    assert resp.json()["items"] == [
        {"id": "push-1", "status": "new", "reason": None},
        {"id": "push-2", "status": "new", "reason": None},
    ]
    embargoed = env.item("push-1")
    assert embargoed.embargo_until is not None and embargoed.embargo_until.year == 2099
    assert embargoed.attribution["original_agency"] == "APA"
    assert embargoed.attribution["image_credits"][0]["credit"] == "contact.az"
    assert env.item("push-2").embargo_until is None


def test_push_items_object(env: Env) -> None:
    resp = env.push_json({"items": [json_item(1), {"title": "No id", "content_text": "Just text.\n\nTwo paras."}]})
    assert resp.status_code == 202, resp.text
    results = resp.json()["items"]
    assert results[0] == {"id": "push-1", "status": "new", "reason": None}
    # No partner id: the answer names our key, which the status route accepts.
    assert results[1]["status"] == "new" and results[1]["id"].startswith(("t:", "l:"))
    status = env.client.get(f"{ITEMS.format('turan')}/{results[1]['id']}", headers=env.auth())
    assert status.status_code == 200, status.text
    assert status.json()["title"] == "No id"


def test_retry_creates_no_duplicates(env: Env) -> None:
    body = rss(3)
    first = env.push(body, "application/rss+xml")
    assert first.status_code == 202
    counts = (env.count(Item), env.count(ItemVersion), env.count(Event))
    again = env.push(body, "application/rss+xml")
    assert again.status_code == 202
    assert [r["status"] for r in again.json()["items"]] == ["unchanged"] * 3
    assert (env.count(Item), env.count(ItemVersion), env.count(Event)) == counts
    # The same items as JSON later: still the same identity? (different format, same guids -> same keys)
    changed = rss([rss_item(0, title="Story 0, revised"), rss_item(1), rss_item(2)])
    resp = env.push(changed, "application/rss+xml")
    assert [r["status"] for r in resp.json()["items"]] == ["updated", "unchanged", "unchanged"]
    assert env.count(Item) == 3
    assert env.item("agency-0").version == 2


def test_repeated_entry_in_one_document_is_reported_rejected(env: Env) -> None:
    resp = env.push(rss([rss_item(1), rss_item(1), rss_item(2)]), "application/rss+xml")
    assert resp.status_code == 202, resp.text
    results = resp.json()["items"]
    assert [r["status"] for r in results] == ["new", "new", "rejected"]
    assert results[2]["id"] == "agency-1" and "duplicate" in results[2]["reason"]
    assert env.count(Item) == 2


def test_corrected_and_withdrawn_status_reach_the_item(env: Env) -> None:
    assert env.push_json({"items": [json_item(1), json_item(2)]}).status_code == 202
    corrected = json_item(1, status="corrected", change_note="Fixed the minister's name.")
    corrected["content_html"] = "<p>BAKU – Corrected body.</p>"
    resp = env.push_json({"items": [corrected]})
    assert resp.json()["items"] == [{"id": "push-1", "status": "updated", "reason": None}]
    row = env.item("push-1")
    assert row.version == 2 and row.change_note == "Fixed the minister's name." and row.status == "usable"
    with env.rt.sessions() as session:
        ev = session.scalars(select(Event).where(Event.item_id == row.id).order_by(Event.id)).all()[-1]
        assert ev.kind == "item.corrected" and ev.payload["change_note"] == "Fixed the minister's name."  # type: ignore[index]

    resp = env.push_json({"items": [json_item(1, status="withdrawn", change_note="Legal")]})
    assert resp.json()["items"][0]["status"] == "updated"
    assert env.item("push-1").status == "withdrawn"
    resp = env.push_json({"items": [json_item(2, status="canceled")]})
    assert env.item("push-2").status == "withdrawn"
    with env.rt.sessions() as session:
        kinds = set(session.scalars(select(Event.kind)))
    assert "item.withdrawn" in kinds

    status = env.client.get(f"{ITEMS.format('turan')}/push-1", headers=env.auth()).json()
    assert status["status"] == "withdrawn" and status["published"] is False and status["channels"] == []
    assert status["change_note"] == "Legal"


# ---------------------------------------------------------------- authentication and authorisation


def test_missing_malformed_and_unknown_keys_are_401(env: Env) -> None:
    url = ITEMS.format("turan")
    headers = {"Content-Type": "application/rss+xml"}
    resp = env.client.post(url, content=rss(1), headers=headers)
    assert_error(resp, 401, "missing_key")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    resp = env.client.post(url, content=rss(1), headers={**headers, "Authorization": "Basic dXNlcjpwdw=="})
    assert_error(resp, 401, "missing_key")
    resp = env.client.post(url, content=rss(1), headers={**headers, "Authorization": "Bearer not-a-key"})
    assert_error(resp, 401, "unknown_key")
    forged = env.keys["turan"][:-4] + ("AAAA" if not env.keys["turan"].endswith("AAAA") else "BBBB")
    resp = env.client.post(url, content=rss(1), headers={**headers, "Authorization": f"Bearer {forged}"})
    assert_error(resp, 401, "unknown_key")
    assert env.count(Item) == 0


def test_revoked_key_is_401_and_other_keys_still_work(env: Env) -> None:
    second = new_key(env.rt, "turan")
    with transaction(env.rt.sessions) as session:
        prefix = session.scalars(select(PushKey.prefix).where(PushKey.partner_id == "turan")).first()
        assert prefix is not None and env.keys["turan"].split("_")[1] == prefix
        assert revoke_keys(session, "turan", utcnow(), prefix) == [prefix]
    assert_error(env.push(rss(1), "application/rss+xml"), 401, "revoked_key")
    resp = env.client.post(ITEMS.format("turan"), content=rss(1),
                           headers={"Authorization": f"Bearer {second}", "Content-Type": "application/rss+xml"})
    assert resp.status_code == 202


def test_key_of_partner_a_is_rejected_for_partner_b(env: Env) -> None:
    resp = env.push(rss(1), "application/rss+xml", partner="commonspace", key_of="turan")
    assert_error(resp, 403, "wrong_partner")
    resp = env.client.get(SOURCES.format("commonspace"), headers=env.auth("turan"))
    assert_error(resp, 403, "wrong_partner")
    resp = env.client.get(f"{ITEMS.format('commonspace')}/x", headers=env.auth("turan"))
    assert_error(resp, 403, "wrong_partner")
    assert env.count(Item) == 0


def test_partner_without_push_source_is_403(env: Env) -> None:
    assert_error(env.push(rss(1), "application/rss+xml", partner="nopush"), 403, "no_push_source")
    # It may still manage feed sources with its key.
    resp = env.client.get(SOURCES.format("nopush"), headers=env.auth("nopush"))
    assert resp.status_code == 200 and resp.json() == {"push_enabled": False, "sources": []}


# ---------------------------------------------------------------- request errors


def test_unsupported_content_type_is_415(env: Env) -> None:
    assert_error(env.push("hello", "text/plain"), 415, "unsupported_media_type")
    assert_error(env.push(b"", ""), 415, "unsupported_media_type")
    import gzip

    resp = env.client.post(ITEMS.format("turan"), content=gzip.compress(rss(1).encode()),
                           headers={**env.auth(), "Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})
    assert "Content-Encoding" in assert_error(resp, 415, "unsupported_media_type")["detail"]
    assert env.count(Item) == 0


def test_declared_oversize_body_is_413_before_reading(env_factory: Callable[..., Env]) -> None:
    env = env_factory(api={"max_body_bytes": 2048})
    resp = env.push(rss(20), "application/rss+xml")
    assert len(rss(20)) > 2048
    body = assert_error(resp, 413, "payload_too_large")
    assert "2048" in body["detail"]
    assert env.count(Item) == 0


def test_streamed_oversize_body_is_413_while_reading(env_factory: Callable[..., Env]) -> None:
    """Chunked body without Content-Length, fed to the ASGI app chunk by chunk: the limit trips after about
    cap bytes, long before the 1 MB the client would send (TestClient would buffer the body first)."""
    import asyncio

    env = env_factory(api={"max_body_bytes": 4096})
    app = env.client.app
    chunk, total_chunks = b"<!-- " + b"x" * 1000 + b" -->", 1000
    received: list[int] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        return {"type": "http.request", "body": chunk, "more_body": len(received) < total_chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"authorization", f"Bearer {env.keys['turan']}".encode()),
               (b"content-type", b"application/rss+xml"), (b"transfer-encoding", b"chunked")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": ITEMS.format("turan"), "raw_path": ITEMS.format("turan").encode(),
             "query_string": b"", "root_path": "", "headers": headers, "client": ("127.0.0.1", 1),
             "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert body["error"] == "payload_too_large"
    assert len(received) <= 4096 // len(chunk) + 2  # stopped reading at the cap, not at the end
    assert env.count(Item) == 0


def test_unparseable_documents_are_422(env: Env) -> None:
    body = assert_error(env.push("<html><body>Not a feed</body></html>", "text/xml"), 422, "unparseable_document")
    assert "not a feed" in body["detail"]
    broken = rss(2).replace("</channel>", "")  # ill-formed: nothing from it is stored
    assert_error(env.push(broken, "application/rss+xml"), 422, "unparseable_document")
    assert_error(env.push("{not json", "application/json"), 422, "unparseable_document")
    body = assert_error(env.push_json({"entries": []}), 422, "unparseable_document")
    assert "items" in body["detail"]
    assert env.count(Item) == 0


def test_one_invalid_item_rejects_the_whole_batch(env: Env) -> None:
    bad_status = json_item(2, status="published")
    bad_date = json_item(3, embargo_until="next tuesday")
    empty = {"id": "empty-4"}
    doc = {"items": [json_item(1), bad_status, bad_date, empty, "string item"]}
    body = assert_error(env.push_json(doc), 422, "invalid_items")
    detail = body["detail"]
    assert detail.startswith("nothing was stored")
    assert "items[1] (id 'push-2'): _syndication.status" in detail
    assert "items[2] (id 'push-3'): _syndication.embargo_until: 'next tuesday' is not a date" in detail
    assert "items[4]: an item must be a JSON object" in detail
    assert env.count(Item) == 0 and env.count(Event) == 0
    # Fix the named items and the same batch goes through.
    body2 = assert_error(env.push_json({"items": [json_item(1), empty]}), 422, "invalid_items")
    assert "empty-4" in body2["detail"] and "neither title nor content" in body2["detail"]
    assert env.count(Item) == 0
    assert env.push_json({"items": [json_item(1), json_item(2)]}).status_code == 202
    assert env.count(Item) == 2


def test_unknown_syndication_field_is_named(env: Env) -> None:
    body = assert_error(env.push_json({"items": [json_item(1, embargo="2099-01-01T00:00:00Z")]}), 422,
                        "invalid_items")
    assert "_syndication.embargo" in body["detail"]


def test_fastapi_validation_errors_use_our_error_shape(env: Env) -> None:
    resp = env.client.post(SOURCES.format("turan"), json={"interval": 3}, headers=env.auth())
    body = assert_error(resp, 422, "invalid_request")
    assert "url" in body["detail"] and "interval" in body["detail"]
    resp = env.client.post(ITEMS.format("Bad_Id!"), content=rss(1),
                           headers={**env.auth(), "Content-Type": "application/rss+xml"})
    assert_error(resp, 422, "invalid_request")
    resp = env.client.delete(f"{SOURCES.format('turan')}/abc", headers=env.auth())
    assert_error(resp, 422, "invalid_request")


def test_router_errors_under_the_api_use_our_error_shape(env: Env) -> None:
    resp = env.client.get(ITEMS.format("turan"), headers=env.auth())  # only POST exists there
    assert "GET" in assert_error(resp, 405, "method_not_allowed")["detail"]
    assert "allow" in {k.lower() for k in resp.headers}
    assert_error(env.client.get("/api/v1/nothing-here"), 404, "not_found")
    # Elsewhere too (the app-wide handler), with the route's own detail.
    resp = env.client.get("/feeds/none.atom")
    assert resp.status_code == 404 and resp.json() == {"error": "not_found", "detail": "no such feed"}


def test_rate_limit_is_429_with_retry_after(env_factory: Callable[..., Env]) -> None:
    env = env_factory(api={"rate_limit_per_minute": 2})
    assert env.push(rss(1), "application/rss+xml").status_code == 202
    assert env.push(rss(1), "application/rss+xml").status_code == 202
    resp = env.push(rss(2), "application/rss+xml")
    assert_error(resp, 429, "rate_limited")
    assert 55 <= int(resp.headers["retry-after"]) <= 60  # until the oldest of the two leaves the minute's window
    assert env.count(Item) == 1  # the limited request stored nothing
    # Another partner has its own bucket.
    assert env.push(rss(1), "application/rss+xml", partner="commonspace").status_code == 202


# ---------------------------------------------------------------- publication and item status


def test_push_triggers_publication_and_status_follows(env: Env) -> None:
    from syndication.runtime.dispatch import LocalDispatcher

    env.rt.dispatcher = LocalDispatcher(env.rt, threads=1)
    resp = env.push(rss([rss_item(1, guid="https://turan.example/news/1?id=1")]), "application/rss+xml")
    assert resp.status_code == 202
    feed = env.rt.settings.feeds_dir / "partners" / "turan.atom"
    deadline = time.monotonic() + 20
    while not (feed.exists() and b"Story 1" in feed.read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert b"Story 1" in feed.read_bytes()
    while env.rt.dispatcher.pending and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)

    # The partner's id is a URL with "/" and "?": URL-encoded in the path.
    guid = "https://turan.example/news/1?id=1"
    resp = env.client.get(f"{ITEMS.format('turan')}/{quote(guid, safe='')}", headers=env.auth())
    assert resp.status_code == 200, resp.text
    st = resp.json()
    assert st["id"] == guid and st["status"] == "usable" and st["version"] == 1
    assert st["published"] is True and st["embargoed"] is False
    by_id = {c["id"]: c for c in st["channels"]}
    assert set(by_id) == {"all", "partners/turan"}
    assert by_id["partners/turan"]["position"] == 1
    assert by_id["partners/turan"]["pending"] is False and by_id["partners/turan"]["published_at"]
    assert by_id["partners/turan"]["feeds"]["atom"].endswith("/feeds/partners/turan.atom")
    assert by_id["partners/turan"]["feeds"]["ninjs"].endswith("/feeds/partners/turan.ninjs.json")
    assert st["received"] and st["versions"] == [{"version": 1, "recorded_at": st["received"]}]
    # By our key too.
    assert env.client.get(f"{ITEMS.format('turan')}/{st['key']}", headers=env.auth()).json()["id"] == guid


def test_item_status_embargo_not_found_and_other_partner(env: Env) -> None:
    env.push_json({"items": [json_item(1, embargo_until="2099-01-01T00:00:00Z")]})
    st = env.client.get(f"{ITEMS.format('turan')}/push-1", headers=env.auth()).json()
    assert st["embargoed"] is True and st["published"] is False and st["channels"] == []
    assert st["embargo_until"] == "2099-01-01T00:00:00Z"
    assert_error(env.client.get(f"{ITEMS.format('turan')}/nope", headers=env.auth()), 404, "not_found")
    # Commonspace cannot see Turan's item, even by its exact key.
    resp = env.client.get(f"{ITEMS.format('commonspace')}/push-1", headers=env.auth("commonspace"))
    assert_error(resp, 404, "not_found")


def test_published_flag_follows_the_channel_window(env_factory: Callable[..., Env]) -> None:
    env = env_factory(publish={"window": 2})
    env.push_json({"items": [
        {**json_item(i), "date_published": f"2026-11-2{i}T09:00:00Z"} for i in (1, 2, 3)
    ]})
    old = env.client.get(f"{ITEMS.format('turan')}/push-1", headers=env.auth()).json()
    assert old["published"] is False and old["channels"] == []
    new = env.client.get(f"{ITEMS.format('turan')}/push-3", headers=env.auth()).json()
    assert new["published"] is True and {c["position"] for c in new["channels"]} == {1}


# ---------------------------------------------------------------- partner-managed sources


def test_sources_add_list_delete(env: Env, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/turan.rss", rss(2))
    resp = env.client.post(SOURCES.format("turan"), json={
        "url": url, "interval": 600, "credentials": {"username": "u", "password": "s3cret-pw"},
    }, headers=env.auth())
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["url"] == url and created["interval"] == 600 and created["has_credentials"] is True
    assert "s3cret-pw" not in resp.text and "credentials" not in created
    assert feed_server.requests[-1][2]["authorization"].startswith("Basic ")  # fetched once, with them
    with env.rt.sessions() as session:
        row = session.get(Source, created["id"])
        assert row is not None and "s3cret-pw" not in json.dumps(row.credentials)  # stored sealed
    report = jobs.poll_source(env.rt, created["id"])  # and the poller can open them
    assert report is not None and report.new == 2, report
    assert feed_server.requests[-1][2]["authorization"] == feed_server.requests[0][2]["authorization"]

    listed = env.client.get(SOURCES.format("turan"), headers=env.auth())
    assert listed.status_code == 200 and "s3cret-pw" not in listed.text
    assert listed.json()["push_enabled"] is True
    assert [s["id"] for s in listed.json()["sources"]] == [created["id"]]

    assert_error(env.client.post(SOURCES.format("turan"), json={"url": url}, headers=env.auth()), 409,
                 "source_exists")
    # Another partner cannot delete it; nor can Turan delete its push source.
    resp = env.client.delete(f"{SOURCES.format('commonspace')}/{created['id']}", headers=env.auth("commonspace"))
    assert_error(resp, 404, "not_found")
    with env.rt.sessions() as session:
        push_id = session.scalar(select(Source.id).where(Source.partner_id == "turan", Source.kind == "push"))
    assert_error(env.client.delete(f"{SOURCES.format('turan')}/{push_id}", headers=env.auth()), 404, "not_found")
    resp = env.client.delete(f"{SOURCES.format('turan')}/{created['id']}", headers=env.auth())
    assert resp.status_code == 204
    assert env.client.get(SOURCES.format("turan"), headers=env.auth()).json()["sources"] == []
    assert_error(env.client.delete(f"{SOURCES.format('turan')}/{created['id']}", headers=env.auth()), 404,
                 "not_found")


def test_sources_take_a_quiet_bound_and_show_why_the_wait_changed(env: Env, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/turan-bound.rss", rss(1))
    add = SOURCES.format("turan")
    body = assert_error(env.client.post(add, json={"url": url, "interval": 600, "max_interval": 300},
                                        headers=env.auth()), 422, "invalid_request")
    assert "below interval" in body["detail"]
    cap = env.rt.settings.fetch.max_interval
    body = assert_error(env.client.post(add, json={"url": url, "max_interval": cap + 60}, headers=env.auth()),
                        422, "invalid_request")
    assert str(cap) in body["detail"]
    created = env.client.post(add, json={"url": url, "interval": 120, "max_interval": cap}, headers=env.auth())
    assert created.status_code == 201, created.text
    assert created.json()["max_interval"] == cap and created.json()["interval_reason"] is None
    default = env.client.post(add, json={"url": feed_server.add_feed("/t2.rss", rss(1)), "interval": 60},
                              headers=env.auth()).json()
    assert 60 < default["max_interval"] <= cap  # a multiple of interval, within our limit
    jobs.poll_source(env.rt, created.json()["id"])
    jobs.poll_source(env.rt, created.json()["id"])  # unchanged: the source backs off and says why
    listed = {s["id"]: s for s in env.client.get(add, headers=env.auth()).json()["sources"]}
    assert listed[created.json()["id"]]["interval_reason"]


def test_added_source_is_polled_like_any_feed(env: Env, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/cs.atom", atom(2), content_type="application/atom+xml")
    created = env.client.post(SOURCES.format("commonspace"), json={"url": url}, headers=env.auth("commonspace"))
    assert created.status_code == 201
    report = jobs.poll_source(env.rt, created.json()["id"])
    assert report is not None and report.new == 2


def test_sources_refused_with_reason(env: Env, feed_server: FeedServer) -> None:
    html = feed_server.add("/page.html", "<html><body>Hello</body></html>", content_type="text/html")
    missing = feed_server.url("/missing.rss")

    def add(url: str) -> dict[str, Any]:
        resp = env.client.post(SOURCES.format("turan"), json={"url": url}, headers=env.auth())
        return assert_error(resp, 422, "invalid_source")

    assert "text/html" in add(html)["detail"]
    assert "404" in add(missing)["detail"]
    body = assert_error(env.client.post(SOURCES.format("turan"), json={"url": "ftp://x.example/feed"},
                                        headers=env.auth()), 422, "invalid_request")
    assert "http" in body["detail"]
    assert env.client.get(SOURCES.format("turan"), headers=env.auth()).json()["sources"] == []


def test_sources_address_guard(env_factory: Callable[..., Env], feed_server: FeedServer) -> None:
    env = env_factory(fetch={"allow_private_addresses": False})
    url = feed_server.add_feed("/turan.rss", rss(1))
    resp = env.client.post(SOURCES.format("turan"), json={"url": url}, headers=env.auth())
    body = assert_error(resp, 422, "invalid_source")
    assert "127.0.0.1" in body["detail"] and "public" in body["detail"]
    assert feed_server.requests == []  # refused before connecting


# ---------------------------------------------------------------- secrets


def test_keys_never_logged_nor_stored(env: Env, caplog: pytest.LogCaptureFixture, feed_server: FeedServer) -> None:
    caplog.set_level(logging.DEBUG)
    key = env.keys["turan"]
    env.push(rss(1), "application/rss+xml")
    env.push(rss(1), "application/rss+xml", partner="commonspace", key_of="turan")  # 403
    env.push("<html/>", "text/xml")  # 422
    with transaction(env.rt.sessions) as session:
        revoke_keys(session, "turan", utcnow())
    env.push(rss(1), "application/rss+xml")  # 401 revoked
    assert caplog.records, "expected the API to log something"
    secret = key.split("_", 2)[2]
    assert key not in caplog.text and secret not in caplog.text
    with env.rt.sessions() as session:
        stored = [(r.prefix, bytes(r.key_hash)) for r in session.scalars(select(PushKey))]
    assert all(secret.encode() not in h and key.encode() not in h for _, h in stored)


# ---------------------------------------------------------------- OpenAPI


def test_openapi_describes_routes_and_errors(env: Env) -> None:
    doc = env.client.get("/openapi.json").json()
    paths = doc["paths"]
    expected = {
        ("/api/v1/partners/{partner_id}/items", "post"): {"202", "401", "403", "413", "415", "422", "423", "429"},
        ("/api/v1/partners/{partner_id}/sources", "get"): {"200", "401", "403", "422", "429"},
        ("/api/v1/partners/{partner_id}/sources", "post"): {"201", "401", "403", "409", "413", "422", "429"},
        ("/api/v1/partners/{partner_id}/sources/{source_id}", "delete"): {"204", "401", "403", "404", "422", "429"},
        ("/api/v1/partners/{partner_id}/items/{item_id}", "get"): {"200", "401", "403", "404", "409", "422", "429"},
    }
    for (path, method), codes in expected.items():
        op = paths[path][method]
        assert set(op["responses"]) == codes, (path, method)
        for code in codes - {"200", "201", "202", "204"}:
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (path, method, code)
        assert op["security"] == [{"HTTPBearer": []}]
    body = paths["/api/v1/partners/{partner_id}/items"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/atom+xml", "application/rss+xml", "application/xml", "text/xml",
                         "application/feed+json", "application/json", "application/ninjs+json",
                         "application/vnd.iptc.g2.newsitem+xml", "application/vnd.iptc.g2.newsmessage+xml",
                         "application/vnd.iptc.g2.packageitem+xml"}
    item_schema = body["application/json"]["schema"]["properties"]["items"]["items"]
    assert "_syndication" in item_schema["properties"]
    assert "$ref" not in json.dumps(body)  # inlined: nothing dangling
    assert set(doc["components"]["schemas"]["ErrorBody"]["properties"]) == {"error", "detail"}
    docs = env.client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text


# ---------------------------------------------------------------- CLI


def cli_config(tmp_path: Path) -> Path:
    path = tmp_path / "syndication.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "var"}"\n'
        '[[partners]]\nid = "turan"\nname = "Turan"\n[[partners.sources]]\nkind = "push"\n'
        '[[partners]]\nid = "nopush"\nname = "No Push"\n'
    )
    return path


def test_cli_partner_key_issue_use_and_revoke(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from syndication.cli.app import app
    from syndication.kernel.settings import load_settings
    from syndication.runtime.context import open_runtime

    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    cfg = str(cli_config(tmp_path))
    res = runner.invoke(app, ["--config", cfg, "partner", "key", "turan", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["partner"] == "turan" and out["push_source"] is True and out["key"].startswith(f"synd_{out['prefix']}_")
    res2 = runner.invoke(app, ["--config", cfg, "partner", "key", "turan"])
    assert res2.exit_code == 0
    plain_key = res2.stdout.strip()
    assert plain_key.startswith("synd_") and plain_key != out["key"]
    assert "not shown again" in res2.stderr

    rt = open_runtime(load_settings(cfg))
    try:
        client = TestClient(create_app(rt))

        def push(key: str) -> Any:
            return client.post(ITEMS.format("turan"), content=rss(1),
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/rss+xml"})

        assert push(out["key"]).status_code == 202
        res = runner.invoke(app, ["--config", cfg, "partner", "key", "turan", "--revoke", "--prefix", out["prefix"],
                                  "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["revoked"] == [out["prefix"]]
        assert_error(push(out["key"]), 401, "revoked_key")
        assert push(plain_key).status_code == 202
        res = runner.invoke(app, ["--config", cfg, "partner", "key", "turan", "--revoke", "--json"])
        assert json.loads(res.stdout)["revoked"] == [plain_key.split("_")[1]]
        assert_error(push(plain_key), 401, "revoked_key")
        client.close()
    finally:
        rt.close()
    assert out["key"] not in caplog.text and plain_key not in caplog.text

    res = runner.invoke(app, ["--config", cfg, "partner", "key", "ghost"])
    assert res.exit_code == 2 and "unknown partner 'ghost'" in res.stderr
    res = runner.invoke(app, ["--config", cfg, "partner", "key", "turan", "--revoke", "--prefix", "00000000"])
    assert res.exit_code == 2 and "no active key" in res.stderr
    res = runner.invoke(app, ["--config", cfg, "partner", "key", "nopush"])
    assert res.exit_code == 0 and "no push source" in res.stderr


# ---------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
def test_push_on_postgresql(env_factory: Callable[..., Env], postgres_url: str) -> None:
    env = env_factory(database_url=postgres_url)
    assert env.rt.engine.dialect.name == "postgresql"
    resp = env.push(atom(3), "application/atom+xml")
    assert [r["status"] for r in resp.json()["items"]] == ["new"] * 3
    again = env.push(atom(3), "application/atom+xml")
    assert [r["status"] for r in again.json()["items"]] == ["unchanged"] * 3
    assert_error(env.push_json({"items": [json_item(1), json_item(2, status="bogus")]}), 422, "invalid_items")
    assert env.count(Item) == 3
    assert env.push_json({"items": [json_item(1, status="withdrawn")]}).status_code == 202
    assert env.item("push-1").status == "withdrawn"
    assert_error(env.push(rss(1), "application/rss+xml", partner="commonspace", key_of="turan"), 403,
                 "wrong_partner")
    st = env.client.get(f"{ITEMS.format('turan')}/tag:agency.example,2026:2", headers=env.auth()).json()
    assert st["published"] is True


@pytest.mark.postgres
def test_concurrent_identical_pushes_store_once_on_postgresql(
    env_factory: Callable[..., Env], postgres_url: str
) -> None:
    env = env_factory(database_url=postgres_url, api={"rate_limit_per_minute": 1000})
    body = rss(5)
    statuses: list[int] = []

    def go() -> None:
        statuses.append(env.push(body, "application/rss+xml").status_code)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [202] * 4
    assert env.count(Item) == 5 and env.count(ItemVersion) == 5


def test_json_dates_rfc3339_naive_and_rfc822(env: Env) -> None:
    a = {**json_item(1), "date_published": "Fri, 20 Nov 2026 09:00:00 +0100"}
    b = {**json_item(2), "date_published": "2026-11-20T09:00:00", "_syndication": {"embargo_until": "2099-01-01"}}
    resp = env.push_json({"items": [a, b]})
    assert resp.status_code == 202, resp.text
    assert env.item("push-1").published_at.isoformat() == "2026-11-20T08:00:00+00:00"
    assert env.item("push-2").published_at.isoformat() == "2026-11-20T09:00:00+00:00"
    assert env.item("push-2").embargo_until.isoformat() == "2099-01-01T00:00:00+00:00"  # type: ignore[union-attr]


@pytest.mark.redis
def test_scaled_push_sends_a_publish_task(env_factory: Callable[..., Env], redis_url: str) -> None:
    """Scaled mode: the web process stores, then sends syndication.publish_dirty to the publish queue."""
    import redis

    from syndication.runtime.dispatch import make_dispatcher
    from syndication.runtime.tasks import TASK_PUBLISH_DIRTY

    env = env_factory(broker_url=redis_url)
    env.rt.dispatcher = make_dispatcher(env.rt)
    r = redis.Redis.from_url(redis_url)
    try:
        assert r.llen("publish") == 0
        assert env.push(rss(2), "application/rss+xml").status_code == 202
        assert r.llen("publish") == 1
        message = json.loads(r.lindex("publish", 0))  # type: ignore[arg-type]
        assert message["headers"]["task"] == TASK_PUBLISH_DIRTY
        # Nothing changed: no new publication is asked for.
        assert env.push(rss(2), "application/rss+xml").status_code == 202
        assert r.llen("publish") == 1
    finally:
        r.close()


def test_dates_at_the_calendar_edges_are_stored_and_shown_to_the_partner(env: Env) -> None:
    """[real-feeds] 1: a pushed item dated 0001-01-01 (at +01:00 too: year 0 in UTC, which raised before) or
    9999 is stored, dated by when we received it, and its item status shows the dates as sent and why."""
    items = [json_item(1), json_item(2), json_item(3), json_item(4)]
    items[0]["date_published"] = "0001-01-01T00:00:00Z"
    items[1]["date_published"] = "0001-01-01T00:00:00+01:00"
    items[2]["date_published"] = "9999-12-31T23:59:59-05:00"
    items[3]["date_published"] = "1969-07-20T20:17:40Z"
    items[3]["_syndication"] = {"embargo_until": "9999-12-31T23:00:00-05:00"}
    resp = env.push_json({"items": items})
    assert resp.status_code == 202, resp.text
    assert [i["status"] for i in resp.json()["items"]] == ["new"] * 4
    for i in range(1, 5):
        row = env.item(f"push-{i}")
        # Dated by its reception (normalisation and storing read the clock a moment apart).
        assert abs((row.published_at - row.first_seen_at).total_seconds()) < 5 and row.partner_dates, i
        st = env.client.get(f"{ITEMS.format('turan')}/push-{i}", headers=env.auth()).json()
        assert st["partner_dates"] == row.partner_dates
        assert st["partner_dates"][0]["field"] == "published" and st["partner_dates"][0]["raw"].startswith(
            ("0001-", "9999-", "1969-")), st["partner_dates"]
    st = env.client.get(f"{ITEMS.format('turan')}/push-4", headers=env.auth()).json()
    assert st["embargoed"] is True and st["embargo_until"] == "9000-01-01T00:00:00Z"
    plain = env.item("push-1")  # an item whose dates were all used has none recorded
    env.push_json({"items": [json_item(5)]})
    assert env.item("push-5").partner_dates is None and plain.partner_dates
