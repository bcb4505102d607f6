"""Published files over HTTP: content types, validators, 304, HEAD, and no path escapes."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from syndication.kernel.settings import Settings
from syndication.runtime import jobs
from syndication.web.app import create_app
from tests.builders import rss
from tests.conftest import FeedServer


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    """[hardening] Served files are the same whichever database stored the items."""
    return functools.partial(make_settings, database_url=database_url)


def test_feeds_served_with_validators(make_runtime, feed_server: FeedServer) -> None:  # type: ignore[no-untyped-def]
    url = feed_server.add_feed("/t.rss", rss(2))
    rt = make_runtime(partners=[{"id": "turan", "name": "Turan", "sources": [{"kind": "feed", "url": url}]}])
    from syndication.kernel.clock import utcnow
    from syndication.runtime.schedule import claim_due

    for sid, token in claim_due(rt.sessions, utcnow(), lease_seconds=60, limit=10):
        jobs.poll_source(rt, sid, token)
    jobs.publish_all(rt)
    client = TestClient(create_app(rt))
    expected = {"all.atom": "application/atom+xml", "all.rss": "application/rss+xml",
                "all.json": "application/feed+json", "partners/turan.rss": "application/rss+xml"}
    for path, ctype in expected.items():
        r = client.get(f"/feeds/{path}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)
        assert r.content == (rt.settings.feeds_dir / path).read_bytes()
        etag = r.headers["etag"]
        assert r.headers["last-modified"] and "max-age" in r.headers["cache-control"]
        again = client.get(f"/feeds/{path}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        other = client.get(f"/feeds/{path}", headers={"If-None-Match": '"something-else"'})
        assert other.status_code == 200
        head = client.head(f"/feeds/{path}")
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
    assert client.get("/feeds/../syndication.db").status_code == 404
    assert client.get("/feeds/missing.atom").status_code == 404
    assert client.get("/feeds/all.txt").status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
