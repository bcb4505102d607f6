"""[newcomer] Every HTML page we serve works without the internet: no script, style, icon or image is named on
another host, and every asset a page names is served by us (from the installed packages)."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest
from fastapi.testclient import TestClient

from syndication.operations import ops
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_sources
from syndication.web.app import create_app
from tests.builders import rss
from tests.conftest import FeedServer

LOOPBACK = ("127.0.0.1", 50123)
TOKEN = "an-operator-token-long-enough-for-the-rules"
# Elements and attributes through which a page makes the browser fetch something.
FETCHED = (("script", "src"), ("link", "href"), ("img", "src"), ("image", "href"), ("use", "href"),
           ("source", "src"), ("iframe", "src"), ("embed", "src"), ("object", "data"), ("video", "poster"),
           ("audio", "src"), ("input", "src"))
# <link> relations a browser loads by itself (canonical, license, alternate... are only named, never fetched).
LOADING_RELS = {"stylesheet", "icon", "apple-touch-icon", "mask-icon", "manifest", "preload", "modulepreload",
                "prefetch", "prerender", "dns-prefetch", "preconnect"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)|@import\s+['"]([^'"]+)""")


def fetched_urls(html: str) -> list[str]:
    """Every URL the page asks the browser to load by itself (not links a person may follow)."""
    doc = lxml.html.fromstring(html)
    urls: list[str] = []
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.rsplit("}", 1)[-1].lower()
        for name, attr in FETCHED:
            if tag != name:
                continue
            for key in (attr, "{http://www.w3.org/1999/xlink}href", "xlink:href"):
                value = el.get(key)
                if value and (tag != "link" or set(el.get("rel", "").lower().split()) & LOADING_RELS):
                    urls.append(value)
        css = (el.text or "") if tag == "style" else ""
        css += el.get("style", "")
        urls += [a or b for a, b in CSS_URL.findall(css)]
    return urls


def other_hosts(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(u).netloc or u.startswith("//") or not u.strip()
            or urlsplit(u).scheme not in ("", "data")]


def test_fetched_urls_sees_what_a_browser_would_load() -> None:
    page = ('<html><head><link rel="stylesheet" href="https://cdn.example/x.css"><style>@import "//f.example/a";'
            'b{background:url(/ok.png)}</style><link rel="icon" href="/i.png"></head><body>'
            '<script src="/s.js"></script><svg><image href="http://img.example/p.png"/></svg>'
            '<link rel="canonical" href="https://agency.example/story">'
            '<a href="https://elsewhere.example/">a link is fine</a></body></html>')
    urls = fetched_urls(page)
    assert sorted(other_hosts(urls)) == ["//f.example/a", "http://img.example/p.png", "https://cdn.example/x.css"]
    assert "/ok.png" in urls and "/s.js" in urls and "/i.png" in urls


def _assert_self_contained(client: TestClient, path: str, html: str) -> int:
    urls = fetched_urls(html)
    assert not other_hosts(urls), f"{path} names another host: {other_hosts(urls)}"
    for url in urls:
        if url.startswith("data:"):
            continue
        asset = client.get(urljoin(path, url))
        assert asset.status_code == 200, (path, url, asset.status_code)
        assert len(asset.content) > 0, (path, url)
    return len(urls)


@pytest.fixture
def feed_runtime(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> Callable[..., Runtime]:
    url = feed_server.add_feed("/good.rss", rss(2))

    def _make(**overrides: object) -> Runtime:
        return make_runtime(partners=[{"id": "good", "name": "Good Agency",
                                       "sources": [{"kind": "feed", "url": url, "interval": 60}]}], **overrides)

    return _make


def test_every_page_we_serve_names_no_other_host(feed_runtime: Callable[..., Runtime]) -> None:
    rt = feed_runtime()
    client = TestClient(create_app(rt), client=LOOPBACK)
    assert client.get("/redoc").status_code == 404  # ReDoc's page loads a logo from another host: not offered
    for sid, token in claim_sources(rt.sessions, [1], ops.utcnow(), lease_seconds=60):
        jobs.poll_source(rt, sid, token)
    pages = ["/docs", "/docs/oauth2-redirect", "/ops", "/ops/sources/1", "/items/1"]
    loaded = 0
    for path in pages:
        resp = client.get(path, headers={"Accept": "text/html"})
        assert resp.status_code == 200, (path, resp.status_code)
        assert resp.headers["content-type"].startswith("text/html"), path
        loaded += _assert_self_contained(client, path, resp.text)
    # Swagger UI's script and style and the icon are really ours to serve.
    docs = fetched_urls(client.get("/docs").text)
    assert any(u.endswith(".js") for u in docs) and any(u.endswith(".css") for u in docs)
    assert any("favicon" in u or "icon" in u for u in docs)
    assert loaded >= 3
    assert client.get("/openapi.json").json()["paths"]


def test_login_and_refusal_pages_name_no_other_host(feed_runtime: Callable[..., Runtime]) -> None:
    rt = feed_runtime(ops={"token": TOKEN})
    client = TestClient(create_app(rt), client=LOOPBACK)
    for path, status in (("/ops/login", 200), ("/ops", 401)):
        resp = client.get(path, headers={"Accept": "text/html"})
        assert resp.status_code == status, path
        assert "<form" in resp.text
        _assert_self_contained(client, path, resp.text)
    wrong = client.post("/ops/login", data={"token": "wrong"}, headers={"Accept": "text/html"})
    assert wrong.status_code == 403
    _assert_self_contained(client, "/ops/login", wrong.text)
