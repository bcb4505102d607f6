"""[trust] The push API keeps two promises: a paused push source takes nothing (423), and a document whose
bytes are not in the encoding it declares is refused (422 `invalid_encoding`, naming the byte offset)
instead of being stored as mojibake. Over the FastAPI app against real SQLite and PostgreSQL; the operator
pauses and resumes with the real CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from syndication.db.models import Event, Item, Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime.context import Runtime
from syndication.web.api import ApiError
from syndication.web.app import create_app
from tests.builders import rss, rss_item
from tests.conftest import FeedServer

ITEMS = "/api/v1/partners/turan/items"


@dataclass
class Env:
    rt: Runtime
    client: TestClient
    key: str
    config: Path

    def push(self, body: bytes | str, ctype: str) -> Any:
        return self.client.post(ITEMS, content=body, headers={"Authorization": f"Bearer {self.key}",
                                                               "Content-Type": ctype})

    def items(self) -> list[Item]:
        with self.rt.sessions() as session:
            return list(session.scalars(select(Item).order_by(Item.id)))

    def events(self) -> int:
        with self.rt.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Event)) or 0)

    def cli(self, *args: str) -> Any:
        from syndication.cli.app import app

        return CliRunner().invoke(app, ["--config", str(self.config), *args])


@pytest.fixture
def env(make_runtime: Callable[..., Runtime], database_url: str, tmp_path: Path) -> Iterator[Env]:
    partners = [{"id": "turan", "name": "Turan", "credit": "Turan news agency", "sources": [{"kind": "push"}]}]
    rt = make_runtime(database_url=database_url, partners=partners)
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    config = tmp_path / "ops.toml"
    config.write_text(f'data_dir = "{rt.settings.data_dir}"\ndatabase_url = "{rt.settings.effective_database_url}"\n'
                      '[[partners]]\nid = "turan"\nname = "Turan"\ncredit = "Turan news agency"\n'
                      '[[partners.sources]]\nkind = "push"\n', encoding="utf-8")
    client = TestClient(create_app(rt))
    yield Env(rt, client, key, config)
    client.close()


def error_of(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    return str(body["detail"])


# ---------------------------------------------------------------- 6. a paused push source takes nothing


def test_paused_push_source_answers_423_and_stores_nothing(env: Env) -> None:
    with env.rt.sessions() as session:
        source_id = session.scalar(select(Source.id).where(Source.partner_id == "turan", Source.kind == "push"))
    out = env.cli("source", "pause", str(source_id))
    assert out.exit_code == 0, out.output
    detail = error_of(env.push(rss(2), "application/rss+xml"), 423, "source_paused")
    assert "paused" in detail and "turan" in detail and "nothing was stored" in detail
    doc = {"items": [{"id": "p-1", "url": "https://turan.example/1", "title": "T", "content_html": "<p>x</p>"}]}
    error_of(env.push(json.dumps(doc), "application/json"), 423, "source_paused")
    # Refused before the document is looked at: even a broken one gets 423, not 422.
    error_of(env.push("<rss", "application/rss+xml"), 423, "source_paused")
    assert env.items() == [] and env.events() == 0
    # Paused between the check and the store (an operator acts meanwhile): still nothing stored.
    api = env.client.app.state.partner_api  # type: ignore[attr-defined]
    from syndication.web.api import parse_push_xml

    with pytest.raises(ApiError) as refused:
        api.store_push("turan", parse_push_xml(rss(2).encode(), "application/rss+xml"))
    assert (refused.value.status, refused.value.code) == (423, "source_paused")
    assert env.items() == []

    out = env.cli("source", "resume", str(source_id))
    assert out.exit_code == 0, out.output
    resp = env.push(rss(2), "application/rss+xml")
    assert resp.status_code == 202, resp.text
    assert [r["status"] for r in resp.json()["items"]] == ["new", "new"]
    assert len(env.items()) == 2


def test_openapi_documents_423_on_the_push_route(env: Env) -> None:
    doc = env.client.get("/openapi.json").json()
    responses = doc["paths"]["/api/v1/partners/{partner_id}/items"]["post"]["responses"]
    assert responses["423"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "source_paused" in responses["423"]["description"]
    assert "invalid_encoding" in responses["422"]["description"]


# ---------------------------------------------------------------- 7. bytes not in the declared encoding


def bad_utf8_rss(declaration: str = ' encoding="utf-8"', bom: bytes = b"") -> tuple[bytes, int]:
    """An RSS document whose second title has a windows-1252 "é" (0xE9): not UTF-8. Returns it and the byte
    offset of that 0xE9."""
    text = rss([rss_item(0), rss_item(1, title="Café PLACEHOLDER")])
    text = text.replace('<?xml version="1.0" encoding="utf-8"?>', f'<?xml version="1.0"{declaration}?>')
    body = bom + text.encode("utf-8").replace("é".encode(), b"\xe9")
    return body, body.index(b"\xe9")


@pytest.mark.parametrize(("declaration", "ctype", "bom"), [
    (' encoding="utf-8"', "application/rss+xml", b""),  # the XML declaration says UTF-8
    ("", "application/rss+xml; charset=utf-8", b""),  # the Content-Type says UTF-8
    ("", "application/rss+xml", b""),  # nothing declared: XML's default, UTF-8
    (' encoding="utf-8"', "text/xml", b"\xef\xbb\xbf"),  # a UTF-8 byte order mark
])
def test_pushed_xml_with_invalid_utf8_is_422_naming_the_offset(
    env: Env, declaration: str, ctype: str, bom: bytes
) -> None:
    body, offset = bad_utf8_rss(declaration, bom)
    detail = error_of(env.push(body, ctype), 422, "invalid_encoding")
    assert f"byte 0xE9 at offset {offset}" in detail, detail
    assert "utf-8" in detail.lower() and "nothing was stored" in detail
    assert env.items() == [] and env.events() == 0


def test_pushed_json_with_invalid_utf8_is_422_naming_the_offset(env: Env) -> None:
    doc = json.dumps({"items": [{"id": "p-1", "url": "https://turan.example/1", "title": "Café PLACEHOLDER",
                                 "content_html": "<p>x</p>"}]}, ensure_ascii=False)
    body = doc.encode("utf-8").replace("é".encode(), b"\xe9")
    offset = body.index(b"\xe9")
    detail = error_of(env.push(body, "application/json"), 422, "invalid_encoding")
    assert f"byte 0xE9 at offset {offset}" in detail and "UTF-8" in detail
    assert env.items() == []


def test_documents_in_the_encoding_they_declare_are_stored(env: Env) -> None:
    # The same bytes declared windows-1252 are a correct document: stored, with the accent.
    body, _ = bad_utf8_rss(' encoding="windows-1252"')
    resp = env.push(body, "application/rss+xml")
    assert resp.status_code == 202, resp.text
    assert [i.title for i in env.items()] == ["Story 0", "Café PLACEHOLDER"]
    # Declared ISO-8859-1 but the bytes are UTF-8: read as UTF-8 (as a poll does), no mojibake.
    text = rss([rss_item(2, title="Bakı xəbərləri")]).replace('encoding="utf-8"', 'encoding="iso-8859-1"')
    resp = env.push(text.encode("utf-8"), "application/rss+xml")
    assert resp.status_code == 202, resp.text
    assert env.items()[-1].title == "Bakı xəbərləri"


def test_polled_feed_with_invalid_utf8_falls_back_and_tells_operators(
    make_runtime: Callable[..., Runtime], feed_server: FeedServer, tmp_path: Path
) -> None:
    from syndication.runtime import jobs
    from syndication.runtime.schedule import claim_sources

    body, offset = bad_utf8_rss()
    url = feed_server.add("/wire.rss", body, content_type="application/rss+xml")
    rt = make_runtime(partners=[{"id": "wire", "name": "Wire", "sources": [{"kind": "feed", "url": url}]}])
    with rt.sessions() as session:
        sid = session.scalar(select(Source.id).where(Source.partner_id == "wire"))
    assert sid is not None
    [(source_id, token)] = claim_sources(rt.sessions, [sid], utcnow(), lease_seconds=60)
    report = jobs.poll_source(rt, source_id, token)
    assert report is not None and report.status == "ok" and report.new == 2
    with rt.sessions() as session:
        titles = sorted(session.scalars(select(Item.title)))
    assert titles == ["Café PLACEHOLDER", "Story 0"]  # read as windows-1252, as before
    cfg = tmp_path / "ops.toml"
    cfg.write_text(f'data_dir = "{rt.settings.data_dir}"\n', encoding="utf-8")
    from syndication.cli.app import app

    out = CliRunner().invoke(app, ["--config", str(cfg), "status", "--json"])
    assert out.exit_code == 0, out.output
    [row] = [s for s in json.loads(out.stdout)["sources"] if s["partner"] == "wire"]
    assert f"byte 0xE9 at offset {offset}" in row["parse_problem"] and "windows-1252" in row["parse_problem"]
