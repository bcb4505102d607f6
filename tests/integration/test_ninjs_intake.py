"""[wire] ninjs intake end to end: IPTC's examples and validation suites through the real push API, the
mapping as stored, withheld / canceled / embargoed items against every public output, drop folders and
polled sources. Needs the shared corpus (IPTC's files); skips with the reason when it is absent."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from syndication.db.models import Event, Item, Source
from syndication.db.session import transaction
from syndication.intake.ninjs import ninjs_major, parse_ninjs
from syndication.intake.parse import ParseError, UnsupportedWireItem
from syndication.intake.wire_schemas import ninjs_validator
from syndication.kernel.clock import utcnow
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.conftest import REPO, SHARED, FeedServer
from tests.integration.test_trust_embargo import Env, markers, walk_public

NINJS = SHARED / "standards" / "iptc" / "ninjs"
pytestmark = pytest.mark.skipif(not NINJS.is_dir(), reason=f"IPTC's ninjs files are not at {NINJS}")

CTYPE = "application/ninjs+json"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
PARTNER = {"id": "wire", "name": "Wire Partner", "credit": "Wire Partner", "license_url": CC_BY,
           "usage_terms": "Partner terms.", "copyright": "© {year} {credit}", "sources": [{"kind": "push"}]}
LATEST = {"1.6": 1, "2.2": 2, "3.1": 3}


def partner_rights(year: int) -> str:
    return f"© {year} Wire Partner"


@dataclass(frozen=True)
class Expected:
    """What the document states, as our item and attribution should carry it (read off the example)."""

    title: str  # the headline's start
    authors: tuple[str, ...] = ()
    rights: str | None = None  # None: the partner's own rights line, for the item's year
    usage_terms: str = "Partner terms."
    license_url: str = CC_BY
    place: str | None = None
    agency: str | None = None
    image_credits: tuple[str, ...] = ()
    credit_line: str | None = None


SANTALUCIA = ("Paulo Santalucia and Frances d'Emilio",)
TNA = "Copyright 2013 The News Agency, www.tna.org - all rights reserved."
EXAMPLES: dict[str, Expected | str] = {
    "1.4/businesswire-newsml-20130515006361.json": Expected("Dell Redefines Workstation Computing Boundaries",
                                                            image_credits=("", "", "")),
    "1.4/businesswire-newsml-20130605006126.json": Expected("Cambrios被Gartner評選為「最酷供應商」"),
    "1.4/businesswire-newsml-20130612006110.json": Expected("APP发布“2020 可持续发展路线图”"),
    "1.4/businesswire-newsml-20130731006140.json": Expected("Lunch Taking a Toll?", image_credits=("",)),
    "1.4/ninjs-1-4-examples.json": Expected("Test of three new properties"),
    "1.4/ninjsExComplex1.json": Expected("Captain of wrecked cruise ship on trial in Italy", SANTALUCIA, TNA,
                                         place="Grossetto, Italy", agency="AP", image_credits=("Paulo Santalucia",)),
    "1.4/ninjsExComplex2.json": Expected("Captain of wrecked cruise ship on trial in Italy", SANTALUCIA, TNA,
                                         place="Grossetto, Italy", agency="AP",
                                         image_credits=("Paulo Santalucia", "Paulo Santalucia")),
    "1.4/ninjsExMediumText1.json": Expected("Captain of wrecked cruise ship on trial in Italy", SANTALUCIA, TNA,
                                            place="Grossetto, Italy", agency="AP"),
    "1.4/ninjsExSimplePhoto1.json": Expected("Costa Concordia cruise ship", ("Paulo Santalucia",),
                                             image_credits=("Paulo Santalucia",), credit_line="Paulo Santalucia"),
    # No `located`: the place and agency come from the copy's dateline ("GROSSETO, Italy (AP) --").
    "1.4/ninjsExSimpleText1.json": Expected("Captain of wrecked cruise ship on trial in Italy", SANTALUCIA,
                                            place="Grosseto, Italy", agency="AP"),
    "2.1/SIPA_image_2.json": Expected("Italy: Italy Demonstration", ("Insidefoto",), "SIPA USA/PA Images",
                                      usage_terms="*** World Rights Except Italy ***",
                                      image_credits=("Insidefoto/SIPA USA",), credit_line="Insidefoto/SIPA USA"),
    "2.1/ap_audio.json": "audio",
    "2.1/ap_image.json": Expected("Turkey Islamic State", usage_terms="This content is intended for editorial use "
                                  "only. For other uses, additional clearances may be required.", agency="DHA",
                                  image_credits=("ASSOCIATED PRESS",), credit_line="ASSOCIATED PRESS"),
    "2.1/ap_video.json": "video",
    "2.1/businesswire-newsml-20130605006126.json": Expected("Cambrios被Gartner評選為「最酷供應商」"),
    "2.1/businesswire-newsml-20130731006140.json": Expected("Lunch Taking a Toll?", image_credits=("",)),
    "2.1/dpa_text.json": Expected("Faktencheck Derby-Elfmeter", ("Christian Hollmann",),
                                  "Copyright 2019, dpa (www.dpa.de). Alle Rechte vorbehalten"),
    "2.1/imageEncodedRights.json": Expected(
        "MotoGP - Spain - Valentino Rossi", ("John Smith",), image_credits=("John Smith",), credit_line="John Smith",
        usage_terms='{"policytype":"http://www.w3.org/ns/odrl/2/Agreement","policyid":"http://example.agency.com/'
                    'policy:3433","prohibitions":[{"target":"http://example.agency.com/item/TG346285","action":'
                    '"http://www.w3.org/ns/odrl/2/commercialize","assigner":"http://example.agency.com/cv/party/'
                    'pamediagroup","assignee":"http://example.agency.com/cv/partygroup/exampleagencypartners"}]}'),
    "2.1/imageLinkedRights.json": Expected("MotoGP - Spain - Valentino Rossi", ("John Smith",),
                                           license_url="http://example.agency.com/rights/editorialUseOnly",
                                           image_credits=("John Smith",), credit_line="John Smith"),
    "2.1/ninjsExSimpleText_2.json": Expected("Captain of wrecked cruise ship on trial in Italy", SANTALUCIA,
                                             place="Grosseto, Italy", agency="AP"),
    "2.1/ntb_text.json": Expected("Google har kjøpt giganttomt i Skien", ("NTB",), "© 2019 NTB"),
    "2.1/tt_text_image_2.json": Expected("Militärövning i jätteformat hålls 2023", rights="© 2021 TT",
                                         image_credits=("Karl Melander/TT",)),
}


@dataclass
class PushEnv:
    rt: Runtime
    client: TestClient
    key: str

    def push(self, body: bytes, ctype: str = CTYPE) -> Any:
        return self.client.post("/api/v1/partners/wire/items", content=body,
                                headers={"Authorization": f"Bearer {self.key}", "Content-Type": ctype})

    def item(self, guid: str) -> Item:
        with self.rt.sessions() as session:
            row = session.scalar(select(Item).where(Item.guid == guid))
            assert row is not None, guid
            return row


@pytest.fixture
def push_env(make_runtime: Callable[..., Runtime]) -> Iterator[PushEnv]:
    rt = make_runtime(partners=[PARTNER])
    with transaction(rt.sessions) as session:
        key = issue_key(session, "wire", load_pepper(rt.settings), utcnow()).key
    with TestClient(create_app(rt)) as client:
        yield PushEnv(rt, client, key)


def assert_error(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == code, body
    return str(body["detail"])


# ---------------------------------------------------------------- IPTC's examples


def test_every_example_ingests_with_its_fields_mapped(push_env: PushEnv) -> None:
    files = sorted(p.relative_to(NINJS / "examples").as_posix() for p in (NINJS / "examples").glob("*/*.json"))
    assert files == sorted(EXAMPLES), "an example was added or removed: say what it should map to"
    for name in files:
        raw = (NINJS / "examples" / name).read_bytes()
        expected = EXAMPLES[name]
        resp = push_env.push(raw)
        if isinstance(expected, str):  # out of scope: refused, saying which type and what is accepted
            detail = assert_error(resp, 415, "unsupported_item_type")
            assert repr(expected) in detail and "text, picture and composite" in detail, detail
            continue
        assert resp.status_code == 202, (name, resp.text)
        doc = json.loads(raw)
        row = push_env.item(doc["uri"])
        a = row.attribution
        assert row.title.startswith(expected.title), (name, row.title)
        assert tuple(row.authors) == expected.authors == tuple(a["authors"]), (name, row.authors)
        assert a["rights"] == (expected.rights or partner_rights(row.published_at.year)), (name, a["rights"])
        assert (a["usage_terms"], a["license_url"]) == (expected.usage_terms, expected.license_url), name
        assert (a["dateline_place"], a["original_agency"]) == (expected.place, expected.agency), name
        assert tuple(c["credit"] for c in a["image_credits"]) == expected.image_credits, (name, a["image_credits"])
        assert a["credit_line"] == expected.credit_line, name
        assert a["wire_version"] == doc.get("version"), name
        # Every credited photo is shown in the body (its chosen rendition), with its caption.
        shown = {html.unescape(src) for src in re.findall(r'<img src="([^"]+)"', row.content_html)}
        for c in a["image_credits"]:
            assert c["url"] in shown, (name, c["url"])


# ---------------------------------------------------------------- IPTC's validation suites


@pytest.mark.parametrize("version", sorted(LATEST))
def test_iptc_suite_of_the_latest_versions_through_the_push_api(push_env: PushEnv, version: str) -> None:
    suite = NINJS / "test_suite" / version
    passing, failing = sorted((suite / "should_pass").glob("*.json")), sorted((suite / "should_fail").glob("*.json"))
    assert passing and failing
    for path in passing:
        resp = push_env.push(path.read_bytes())
        assert resp.status_code == 202, (path.name, resp.text)
    for path in failing:
        detail = assert_error(push_env.push(path.read_bytes()), 422, "invalid_items")
        # The detail names the version judged, the schema path and the problem. (2.2's files are 1.6's, word for
        # word: nothing in them tells 2.x from 1.x, so they are judged as 1.x, on which both schemas agree.)
        major = 1 if version == "2.2" else LATEST[version]
        assert re.match(rf"nothing was stored: ninjs {major}\.x: /\S*: ", detail), detail


def schema_disagreements() -> list[str]:
    """The files of IPTC's suites for the older and draft versions where the latest schema of the document's
    major version judges otherwise than the folder it is in."""
    out = []
    for folder in sorted(p for p in (NINJS / "test_suite").iterdir() if p.is_dir() and p.name not in LATEST):
        for verdict in ("should_pass", "should_fail"):
            for path in sorted((folder / verdict).glob("*.json")):
                try:
                    doc = json.loads(path.read_bytes())
                except ValueError:
                    valid = False
                else:
                    valid = isinstance(doc, dict) and ninjs_validator(ninjs_major(doc)).is_valid(doc)
                if valid != (verdict == "should_pass"):
                    out.append(f"{folder.name}/{verdict}/{path.name}")
    return out


def beyond_the_schema() -> list[str]:
    """The files of every suite folder where our verdict differs from the schema's, for another reason than
    the item's type (an embargo we cannot read)."""
    out = []
    for path in sorted((NINJS / "test_suite").glob("*/should_*/*.json")):
        try:
            doc = json.loads(path.read_bytes())
        except ValueError:
            continue
        if not isinstance(doc, dict) or not ninjs_validator(ninjs_major(doc)).is_valid(doc):
            continue
        try:
            parse_ninjs(path.read_bytes())
        except UnsupportedWireItem:
            continue
        except ParseError:
            out.append(path.relative_to(NINJS / "test_suite").as_posix())
    return out


def test_the_note_lists_every_file_the_latest_schemas_disagree_on() -> None:
    note = (REPO / "docs" / "wire.md").read_text("utf-8")
    listed = re.findall(r"^\| `([^`]+)` \|", note.split("<!-- disagreements -->", 2)[1], re.M)
    assert listed == schema_disagreements()
    listed = re.findall(r"^\| `([^`]+)` \|", note.split("<!-- beyond-schema -->", 2)[1], re.M)
    assert listed == beyond_the_schema()


def test_out_of_scope_types_and_bad_documents_are_refused(push_env: PushEnv) -> None:
    detail = assert_error(push_env.push(b"{not json"), 422, "unparseable_document")
    assert detail.startswith("nothing was stored: not JSON: ")
    as_json = json.dumps({"uri": "urn:wire:j", "headlines": [{"value": "Sent as JSON"}]}).encode()
    assert "application/ninjs+json" in assert_error(push_env.push(as_json, "application/json"), 422,
                                                    "unparseable_document")
    event = (NINJS / "test_suite" / "3.0" / "should_pass" / "002_simple_event.json").read_bytes()
    assert "'event'" in assert_error(push_env.push(event), 415, "unsupported_item_type")
    # All or nothing: a good item beside a bad one is not stored either.
    good = {"uri": "urn:wire:good", "headlines": [{"value": "Good"}]}
    bad = {"uri": "urn:wire:bad", "headlines": [{"role": "main"}]}
    detail = assert_error(push_env.push(json.dumps({"items": [good, bad]}).encode()), 422, "invalid_items")
    assert "items[1]: ninjs 2.x: /headlines/0: 'value' is a required property" in detail
    with push_env.rt.sessions() as session:
        assert session.scalar(select(Item.id).where(Item.guid == "urn:wire:good")) is None


def test_versions_update_and_an_earlier_one_arriving_late_changes_nothing(push_env: PushEnv) -> None:
    def version(n: int, headline: str, **more: Any) -> bytes:
        return json.dumps({"uri": "urn:wire:v", "version": str(n), "headlines": [{"value": headline}],
                           "bodies": [{"value": f"{headline}, the story."}], **more}).encode()

    assert push_env.push(version(1, "Dam holds")).json()["items"][0]["status"] == "new"
    assert push_env.push(version(3, "Dam holds after night of rain")).json()["items"][0]["status"] == "updated"
    assert push_env.push(version(2, "Dam holds, residents wait")).json()["items"][0]["status"] == "unchanged"
    row = push_env.item("urn:wire:v")
    assert (row.title, row.attribution["wire_version"], row.version) == ("Dam holds after night of rain", "3", 2)
    # A correction: the editor's note says so, and becomes the change note.
    fixed = push_env.push(version(4, "Dam holds after night of rain", ednote="Corrects the river's name"))
    assert fixed.json()["items"][0]["status"] == "updated"
    with push_env.rt.sessions() as session:
        kinds = session.scalars(select(Event.kind).where(Event.item_id == row.id).order_by(Event.id)).all()
    assert kinds == ["item.created", "item.updated", "item.corrected"]
    assert push_env.item("urn:wire:v").change_note == "Corrects the river's name"


# ---------------------------------------------------------------- status: canceled, withheld, embargoed

SECRET = "whsec_" + base64.b64encode(b"ninjs-intake-test-secret-32bytes").decode()
TOKEN = "wire-notices-token"


@pytest.fixture
def env(make_runtime: Callable[..., Runtime], feed_server: FeedServer, database_url: str) -> Iterator[Env]:
    """As tests/integration/test_trust_embargo.py's: a partner webhook, a subscriber, a WebSub hub stub."""
    hooks: dict[str, list[bytes]] = {"partner": [], "subscriber": []}
    for name, path in (("partner", "/partner-hook"), ("subscriber", "/subscriber-hook")):
        def handle(req: BaseHTTPRequestHandler, name: str = name) -> tuple[int, dict[str, str], bytes]:
            hooks[name].append(req.request_body)  # type: ignore[attr-defined]
            return 204, {}, b""

        feed_server.add(path, b"")
        feed_server.routes[path].handler = handle
    feed_server.add("/hub", b"", status=204)
    rt = make_runtime(
        database_url=database_url,
        partners=[{"id": "turan", "name": "Turan", "credit": "Turan news agency", "license_url": CC_BY,
                   "sources": [{"kind": "push"}], "webhook_url": feed_server.url("/partner-hook"),
                   "webhook_secret": SECRET, "notices_token": TOKEN}],
        subscribers=[{"id": "downstream", "webhook_url": feed_server.url("/subscriber-hook"),
                      "webhook_secret": SECRET, "kinds": ["republished", "updated", "corrected", "withdrawn"]}],
        websub={"hub_url": feed_server.url("/hub"), "retries": 0},
    )
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    client = TestClient(create_app(rt), client=("127.0.0.1", 50000))
    yield Env(rt, client, key, feed_server, hooks)
    client.close()


HARBOUR, HELD, EMBARGOED = (f"https://turan.example/news/{n}" for n in ("harbour", "held", "embargoed"))


def ninjs(uri: str, headline: str, version: int, **fields: Any) -> dict[str, Any]:
    return {"uri": uri, "type": "text", "version": str(version), "firstcreated": "2026-11-20T08:00:00Z",
            "versioncreated": f"2026-11-20T{8 + version:02d}:00:00Z",
            "headlines": [{"role": "main", "value": headline}],
            "bodies": [{"contenttype": "text/html", "value": f"<p>{headline}, the story.</p>"}],
            "by": "Leyla Aliyeva", "copyrightholder": "Turan", **fields}


def push_ninjs(env: Env, *items: dict[str, Any]) -> None:
    r = env.client.post("/api/v1/partners/turan/items", content=json.dumps({"items": list(items)}),
                        headers={"Authorization": f"Bearer {env.key}", "Content-Type": CTYPE})
    assert r.status_code == 202, r.text
    env.publish()


def in_feed(env: Env, word: str) -> bool:
    return any(word in i["title"] for i in env.client.get("/feeds/all.json").json()["items"])


def test_canceled_withdraws_everywhere(env: Env) -> None:
    push_ninjs(env, ninjs(HARBOUR, "Harbour reopens", 1))
    assert in_feed(env, "Harbour")
    push_ninjs(env, ninjs(HARBOUR, "Harbour reopens", 2, pubstatus="canceled", ednote="Legal: do not use"))
    row = env.item(HARBOUR)
    assert row.status == "withdrawn" and row.change_note == "Legal: do not use"
    assert not in_feed(env, "Harbour")
    assert b"deleted-entry" in (env.rt.settings.feeds_dir / "all.atom").read_bytes()  # the tombstone
    own = env.client.get("/notices/turan.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert ("withdrawn", HARBOUR) in [(e["_syndication"]["kind"], e["_syndication"]["partner_item_id"])
                                           for e in own["items"]]
    assert any(b"Harbour" in body and b"withdrawn" in body for body in env.hooks["subscriber"])


def test_withheld_stays_out_of_every_public_output_until_a_usable_version(env: Env) -> None:
    push_ninjs(env, ninjs(HELD, "Zanzibar merger talks", 1, pubstatus="withheld"))
    row = env.item(HELD)
    walk_public(env, markers(env, HELD, "Zanzibar"), [row.id])
    status = env.client.get(f"/api/v1/partners/turan/items/{quote(HELD, safe='')}",
                            headers={"Authorization": f"Bearer {env.key}"})
    assert status.status_code == 200 and status.json()["embargoed"] is True  # the partner still sees it
    # A later version is usable: published like any item from now on.
    push_ninjs(env, ninjs(HELD, "Zanzibar merger talks", 2))
    assert in_feed(env, "Zanzibar") and env.client.get(f"/items/{row.id}").status_code == 200
    # Withheld again (a public item the agency holds back): it leaves every public output.
    since = env.mark()
    push_ninjs(env, ninjs(HELD, "Zanzibar merger talks", 3, pubstatus="withheld"))
    walk_public(env, markers(env, HELD, "Zanzibar"), [row.id], since)


def test_embargoed_stays_out_of_every_public_output(env: Env) -> None:
    push_ninjs(env, ninjs(EMBARGOED, "Quillfeather resigns", 1, embargoed="2099-01-01T00:00:00Z"))
    row = env.item(EMBARGOED)
    walk_public(env, markers(env, EMBARGOED, "Quillfeather"), [row.id])


# ---------------------------------------------------------------- folders and polled sources


def test_drop_folder_takes_ninjs_by_name(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "story.ninjs.json").write_bytes((NINJS / "examples" / "2.1" / "dpa_text.json").read_bytes())
    (drop / "video.ninjs.json").write_bytes((NINJS / "examples" / "2.1" / "ap_video.json").read_bytes())
    rt = make_runtime(partners=[{**PARTNER, "sources": [{"kind": "folder", "path": str(drop)}]}])
    with rt.sessions() as session:
        sid = session.scalar(select(Source.id))
    report = jobs.poll_source(rt, sid)
    assert report.new == 1
    with rt.sessions() as session:
        row = session.scalar(select(Item))
    assert row is not None and row.attribution["rights"].startswith("Copyright 2019, dpa")
    assert (drop / "done" / "story.ninjs.json").exists()
    assert "'video' is not accepted" in (drop / "failed" / "video.ninjs.json.error.txt").read_text("utf-8")


def test_polled_source_served_as_ninjs(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> None:
    body = json.dumps({"items": [json.loads((NINJS / "examples" / "2.1" / n).read_bytes())
                                 for n in ("ntb_text.json", "tt_text_image_2.json")]})
    url = feed_server.add_feed("/wire.json", body, content_type=CTYPE)
    rt = make_runtime(partners=[{**PARTNER, "sources": [{"kind": "feed", "url": url}]}])
    with rt.sessions() as session:
        sid = session.scalar(select(Source.id))
    report = jobs.poll_source(rt, sid)
    assert report.new == 2, report
    with rt.sessions() as session:
        rights = sorted(r.attribution["rights"] for r in session.scalars(select(Item)))
    assert rights == ["© 2019 NTB", "© 2021 TT"]
