"""The whole loop through the CLI contract: ingest -> publish -> status, against a real HTTP server."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest
from typer.testing import CliRunner

from syndication.cli.app import app
from tests.builders import atom, rss, rss_item
from tests.conftest import FeedServer

runner = CliRunner()


@pytest.fixture(autouse=True)
def _on_both_databases(_isolated_env: None, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """[hardening] The whole loop runs on SQLite and on the real PostgreSQL (the environment beats the file)."""
    monkeypatch.setenv("SYNDICATION_DATABASE_URL", database_url)


def config(tmp_path: Path, partners: str) -> Path:
    path = tmp_path / "syndication.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[fetch]\nallow_private_addresses = true\n[folder]\nsettle_seconds = 0\n'
        + partners
    )
    return path


def partner(pid: str, url: str, kind: str = "feed") -> str:
    locator = f'url = "{url}"' if kind == "feed" else f'path = "{url}"'
    return (
        f'[[partners]]\nid = "{pid}"\nname = "{pid.title()} Agency"\ncredit = "{pid.title()} news agency"\n'
        f'license_url = "https://creativecommons.org/licenses/by/4.0/"\nusage_terms = "Credit us."\n'
        f'[[partners.sources]]\nkind = "{kind}"\n{locator}\n'
    )


def cli(*args: str) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ingest_publish_status_contract(tmp_path: Path, feed_server: FeedServer) -> None:
    rss_url = feed_server.add_feed("/turan.rss", rss(3), etag='"v1"')
    atom_url = feed_server.add_feed("/cs.atom", atom(2), content_type="application/atom+xml")
    cfg = config(tmp_path, partner("turan", rss_url) + partner("commonspace", atom_url))

    out = cli("--config", str(cfg), "ingest", "--json")
    by_partner = {s["partner"]: s for s in out["sources"]}
    assert set(by_partner) == {"turan", "commonspace"}
    assert by_partner["turan"] == {"partner": "turan", "source": rss_url, "status": "ok", "new": 3,
                                   "updated": 0, "unchanged": 0, "rejected": 0, "error": None}
    assert by_partner["commonspace"]["new"] == 2

    # Unchanged feed: a conditional GET answered 304.
    out = cli("--config", str(cfg), "ingest", "turan", "--json")
    assert out["sources"] == [{"partner": "turan", "source": rss_url, "status": "not_modified", "new": 0,
                               "updated": 0, "unchanged": 0, "rejected": 0, "error": None}]
    assert feed_server.requests[-1][2].get("if-none-match") == '"v1"'

    out = cli("--config", str(cfg), "publish", "--json")
    channels = {(c["channel"], c["format"]): c for c in out["channels"]}
    assert set(channels) == {(ch, f) for ch in ("all", "partners/turan", "partners/commonspace")
                             for f in ("atom", "rss", "json", "ninjs")}
    assert channels[("all", "atom")]["items"] == 5
    assert channels[("all", "atom")]["path"] == str(tmp_path / "var/public/feeds/all.atom")
    # Ingest already published; regenerating the same data writes nothing.
    assert not any(c["changed"] for c in out["channels"])

    for ch in ("all", "partners/turan", "partners/commonspace"):
        for fmt in ("atom", "rss"):
            d = feedparser.parse((tmp_path / f"var/public/feeds/{ch}.{fmt}").read_bytes())
            assert d.bozo == 0, (ch, fmt, d.get("bozo_exception"))
        doc = json.loads((tmp_path / f"var/public/feeds/{ch}.json").read_text())
        assert doc["version"] == "https://jsonfeed.org/version/1.1" and doc["title"]
        assert all(it["id"] for it in doc["items"])

    status = cli("--config", str(cfg), "status", "--json")["sources"]
    turan = next(s for s in status if s["partner"] == "turan")
    assert turan["kind"] == "feed" and turan["source"] == rss_url and turan["state"] == "ok"
    assert turan["consecutive_errors"] == 0 and turan["last_error"] is None
    assert turan["last_attempt"].endswith("Z") and turan["last_success"] and turan["next_poll"]


def test_credit_reaches_every_format(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/t.rss", rss(1))
    cfg = config(tmp_path, partner("turan", url))
    cli("--config", str(cfg), "ingest", "--json")
    feeds = tmp_path / "var/public/feeds"
    a = feedparser.parse((feeds / "all.atom").read_bytes()).entries[0]
    assert a.source.title == "Turan Agency" and a.source.id == url and a.source.updated
    # [publish] (issue 5): the alternate link is our copy; the original is linked rel="via".
    assert a.link.startswith("http://127.0.0.1:8000/items/")
    assert any(link.rel == "via" and link.href == "https://agency.example/news/0" for link in a.links)
    assert any(link.rel == "license" for link in a.links)
    r = feedparser.parse((feeds / "all.rss").read_bytes()).entries[0]
    assert r.source == {"href": url, "title": "Turan Agency"}
    j = json.loads((feeds / "all.json").read_text())["items"][0]["_syndication"]
    assert j["credit"] == "Turan news agency" and j["license_url"].endswith("/by/4.0/")
    assert j["usage_terms"] == "Credit us." and j["original_url"] == "https://agency.example/news/0"
    # The credit line in the body became data.
    assert j["original_agency"] == "Turan news agency" and j["distributing_source"] == "example.org"
    assert j["image_credits"] == [{"credit": "contact.az", "caption": "Picture 0", "url": None}]


def test_failing_source_is_recorded_and_others_unaffected(tmp_path: Path, feed_server: FeedServer) -> None:
    good = feed_server.add_feed("/good.rss", rss(2))
    bad = feed_server.add("/bad.rss", "oops", status=500)
    html = feed_server.add("/page.html", "<html><body>Hello</body></html>", content_type="text/html")
    refused = "http://127.0.0.1:9/nothing.rss"  # discard port: connection refused
    cfg = config(tmp_path, partner("good", good) + partner("bad", bad) + partner("html", html)
                 + partner("gone", refused))
    out = {s["partner"]: s for s in cli("--config", str(cfg), "ingest", "--json")["sources"]}
    assert out["good"]["status"] == "ok" and out["good"]["new"] == 2
    assert out["bad"]["status"] == "error" and "500" in out["bad"]["error"]
    assert out["html"]["status"] == "error" and "not a feed" in out["html"]["error"]
    assert "text/html" in out["html"]["error"]
    assert out["gone"]["status"] == "error" and "connection" in out["gone"]["error"]
    status = {s["partner"]: s for s in cli("--config", str(cfg), "status", "--json")["sources"]}
    assert status["bad"]["state"] == "failing" and status["bad"]["consecutive_errors"] == 1
    assert status["bad"]["last_error"] == out["bad"]["error"]
    assert status["good"]["state"] == "ok"


def test_illegal_xml_characters_never_break_publishing(tmp_path: Path, feed_server: FeedServer) -> None:
    nasty = rss_item(1, title="Bell\x07 and \x0bvtab", html="<p>Nul\x00 and \x1b escape</p>")
    body = rss([nasty]).encode("utf-8")
    url = feed_server.add("/nasty.rss", body, content_type="application/rss+xml")
    cfg = config(tmp_path, partner("nasty", url))
    out = cli("--config", str(cfg), "ingest", "--json")["sources"][0]
    assert out["status"] == "ok" and out["new"] == 1
    d = feedparser.parse((tmp_path / "var/public/feeds/all.atom").read_bytes())
    assert d.bozo == 0 and d.entries[0].title == "Bell and vtab"


def test_ill_formed_feed_yields_recoverable_items(tmp_path: Path, feed_server: FeedServer) -> None:
    broken = rss(3).replace("</channel></rss>", "<item><title>Unclosed & broken</title>")
    url = feed_server.add("/broken.rss", broken, content_type="application/rss+xml")
    cfg = config(tmp_path, partner("broken", url))
    out = cli("--config", str(cfg), "ingest", "--json")["sources"][0]
    assert out["status"] == "ok" and out["new"] >= 3
    status = cli("--config", str(cfg), "status", "--json")["sources"][0]
    assert status["parse_problem"]


def test_folder_source_reads_xml_and_json(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.xml").write_text(rss(2))
    (inbox / "b.json").write_text(json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "J",
        "items": [{"id": "j1", "url": "https://j.example/1", "title": "JSON story",
                   "content_html": "<p>Hello</p>", "date_published": "2026-11-21T10:00:00+04:00"}],
    }))
    (inbox / ".hidden.xml").write_text(rss(1))
    (inbox / "c.xml.part").write_text(rss(1))
    cfg = config(tmp_path, partner("drop", str(inbox), kind="folder"))
    out = cli("--config", str(cfg), "ingest", "--json")["sources"][0]
    assert out["status"] == "ok" and out["new"] == 3
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.xml", "b.json"]
    assert (inbox / "c.xml.part").exists() and (inbox / ".hidden.xml").exists()


def test_usage_and_config_errors_exit_2(tmp_path: Path) -> None:
    cfg = config(tmp_path, partner("turan", "https://turan.az/rss"))
    result = runner.invoke(app, ["--config", str(cfg), "ingest", "nobody"])
    assert result.exit_code == 2 and "unknown partner 'nobody'" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[[partners]]\nid = "x"\nname = "X"\ncolour = "red"\n')
    result = runner.invoke(app, ["--config", str(bad), "status"])
    assert result.exit_code == 2 and "unknown key 'partners[0].colour'" in result.output and str(bad) in result.output
    missing = config(tmp_path, partner("drop", str(tmp_path / "nope"), kind="folder"))
    result = runner.invoke(app, ["--config", str(missing), "status"])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["--config", str(cfg), "partner", "add", "new", "--name", "N",
                                 "--feed-url", "file:///etc/passwd"])
    assert result.exit_code == 2 and "http(s)" in result.output


def test_partner_add_and_list(tmp_path: Path) -> None:
    cfg = config(tmp_path, "")
    result = runner.invoke(app, ["--config", str(cfg), "partner", "add", "apa", "--name", "APA",
                                 "--feed-url", "https://apa.az/rss", "--interval", "120", "--credit", "APA news"])
    assert result.exit_code == 0, result.output
    rows = cli("--config", str(cfg), "partner", "list", "--json")["partners"]
    assert rows[0]["id"] == "apa" and rows[0]["credit"] == "APA news"
    assert rows[0]["sources"] == [{"kind": "feed", "source": "https://apa.az/rss", "interval": 120, "enabled": True}]
