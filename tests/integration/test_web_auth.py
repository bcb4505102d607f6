"""[hardening] 3: guessing secrets is throttled per client address (never per partner), operator tokens are
long, operator sessions expire and end at logout in every process, and partners never read our internal
addresses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from syndication.db.models import OpsSession, Source
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import ConfigError, load_settings
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.app import create_app
from tests.builders import rss
from tests.conftest import FeedServer

TOKEN = "operator-token-for-tests-0123456789abcdef"
PARTNERS = [
    {"id": "turan", "name": "Turan", "sources": [{"kind": "push"}]},
    {"id": "commonspace", "name": "Commonspace", "sources": [{"kind": "push"}]},
]
ITEMS = "/api/v1/partners/{}/items"
STRANGER, PARTNER, OTHER = ("198.51.100.7", 40001), ("203.0.113.20", 40002), ("192.0.2.33", 40003)


def new_key(rt: Runtime, partner: str) -> str:
    with transaction(rt.sessions) as session:
        return issue_key(session, partner, load_pepper(rt.settings), utcnow()).key


def push(client: TestClient, key: str, partner: str = "turan") -> Any:
    return client.post(ITEMS.format(partner), content=rss(1),
                       headers={"Authorization": f"Bearer {key}", "Content-Type": "application/rss+xml"})


def assert_throttled(resp: Any, window: int) -> None:
    assert resp.status_code == 429, resp.text
    assert 1 <= int(resp.headers["retry-after"]) <= window


def test_failed_push_keys_are_throttled_per_address_never_per_partner(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(partners=PARTNERS, auth={"max_failures": 3, "window_seconds": 60})
    key = new_key(rt, "turan")
    app = create_app(rt)
    stranger, partner, other = (TestClient(app, client=a) for a in (STRANGER, PARTNER, OTHER))
    forged = "synd_" + key.split("_")[1] + "_" + "A" * 43  # the partner's public prefix, a guessed secret
    for _ in range(3):
        assert push(stranger, forged).status_code == 401
    refused = push(stranger, forged)
    assert_throttled(refused, 60)
    assert refused.json()["error"] == "too_many_failures"
    # Blocked means not even checked: the right key from that address gets no answer either.
    assert_throttled(push(stranger, key), 60)
    assert_throttled(stranger.get(f"/notices/turan.atom?token={key}"), 60)
    # The partner it was aimed at is not locked out, and other addresses keep their own count.
    assert push(partner, key).status_code == 202
    assert push(other, "synd_00000000_" + "B" * 43).status_code == 401
    assert push(other, key, partner="turan").status_code == 202
    # A request without any key is no guess (nothing to count).
    for _ in range(5):
        assert push(TestClient(app, client=("192.0.2.99", 1)), "").status_code == 401
    assert push(TestClient(app, client=("192.0.2.99", 1)), key).status_code == 202


def test_operator_token_guesses_are_throttled_on_login_bearer_and_metrics(
    make_runtime: Callable[..., Runtime]
) -> None:
    rt = make_runtime(ops={"token": TOKEN}, auth={"max_failures": 3, "window_seconds": 30})
    app = create_app(rt)
    browser = TestClient(app, client=STRANGER)
    for _ in range(3):
        assert browser.post("/ops/login", data={"token": "guess"}).status_code == 403
    blocked = browser.post("/ops/login", data={"token": TOKEN}, follow_redirects=False)
    assert_throttled(blocked, 30)
    assert "too many" in blocked.text
    assert "set-cookie" not in blocked.headers
    # The same address is blocked on Bearer too (one count per address, whatever it guesses at).
    assert_throttled(browser.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}), 30)

    scraper = TestClient(app, client=PARTNER)
    for _ in range(3):
        assert scraper.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert_throttled(scraper.get("/ops/status.json", headers={"Authorization": f"Bearer {TOKEN}"}), 30)
    # Operators elsewhere carry on.
    operator = TestClient(app, client=OTHER)
    assert operator.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert operator.post("/ops/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303


def test_failed_auth_throttle_is_shared_through_redis_when_scaled(
    make_runtime: Callable[..., Runtime], redis_url: str
) -> None:
    """Two web processes of a scaled deployment (two apps here) count one address's failures together."""
    rt = make_runtime(partners=PARTNERS, broker_url=redis_url, auth={"max_failures": 3, "window_seconds": 60})
    key = new_key(rt, "turan")
    web1, web2 = TestClient(create_app(rt), client=STRANGER), TestClient(create_app(rt), client=STRANGER)
    bad = "synd_00000000_" + "C" * 43
    assert push(web1, bad).status_code == 401
    assert push(web2, bad).status_code == 401
    assert push(web1, bad).status_code == 401
    assert_throttled(push(web2, key), 60)
    assert push(TestClient(create_app(rt), client=PARTNER), key).status_code == 202


def test_operator_token_shorter_than_32_characters_is_refused_at_start(tmp_path: Path) -> None:
    short = "short-operator-token"
    with pytest.raises(ConfigError) as exc:
        load_settings(None, ops={"token": short})
    message = str(exc.value)
    assert "ops.token" in message and "32" in message and short not in message
    load_settings(None, ops={"token": "x" * 32})  # 32 is enough
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")},
           "SYNDICATION_OPS__TOKEN": short, "SYNDICATION_DATA_DIR": str(tmp_path / "var")}
    proc = subprocess.run([sys.executable, "-m", "syndication.cli.app", "run", "--port", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "ops.token" in lines[0], proc.stderr
    assert short not in proc.stderr


def login(client: TestClient) -> str:
    resp = client.post("/ops/login", data={"token": TOKEN}, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    match = re.search(r"syndication_ops=([^;]+)", resp.headers["set-cookie"])
    assert match is not None
    return match.group(1)


def test_ops_session_expires_and_logout_ends_it_in_every_process(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime(ops={"token": TOKEN, "session_seconds": 2})
    # Two web processes on one database (two apps and two runtimes here).
    rt2 = make_runtime(ops={"token": TOKEN, "session_seconds": 2})
    web1, web2 = create_app(rt), create_app(rt2)
    browser = TestClient(web1, client=PARTNER)
    resp = browser.post("/ops/login", data={"token": TOKEN}, follow_redirects=False)
    cookie_header = resp.headers["set-cookie"].lower()
    assert "max-age=2" in cookie_header and "httponly" in cookie_header
    cookie = login(browser)
    elsewhere = TestClient(web2, client=PARTNER, cookies={"syndication_ops": cookie})
    assert elsewhere.get("/ops/status.json").status_code == 200
    # Only a keyed hash of the session id is stored.
    with rt.sessions() as session:
        stored = list(session.scalars(select(OpsSession.id_hash)))
    assert stored and all(cookie not in h for h in stored)
    # Logout on the other process ends the session for both, even for a copy of the cookie.
    elsewhere.post("/ops/logout", follow_redirects=False)
    replay = TestClient(web1, client=PARTNER, cookies={"syndication_ops": cookie})
    assert replay.get("/ops/status.json").status_code == 403
    assert TestClient(web2, client=PARTNER, cookies={"syndication_ops": cookie}).get("/ops").status_code == 403
    # A session not logged out ends by itself.
    fresh = login(TestClient(web1, client=PARTNER))
    live = TestClient(web2, client=PARTNER, cookies={"syndication_ops": fresh})
    assert live.get("/ops/status.json").status_code == 200
    time.sleep(2.5)
    expired = live.get("/ops/status.json")
    assert expired.status_code == 403 and "log in again" in expired.json()["error"]
    # Stale cookies are no guesses: they never lock their operator out.
    for _ in range(15):
        assert live.get("/ops/status.json").status_code == 403
    assert login(TestClient(web1, client=PARTNER))


def test_partners_never_read_internal_addresses(make_runtime: Callable[..., Runtime],
                                                feed_server: FeedServer) -> None:
    hidden = feed_server.add_feed("/hidden.rss", rss(1)).replace("127.0.0.1", "localhost")
    rt = make_runtime(fetch={"allow_private_addresses": False}, partners=[
        {"id": "turan", "name": "Turan", "sources": [{"kind": "push"}, {"kind": "feed", "url": hidden}]},
    ])
    key = new_key(rt, "turan")
    client = TestClient(create_app(rt), client=PARTNER)
    auth = {"Authorization": f"Bearer {key}"}
    other = feed_server.add_feed("/other.rss", rss(2)).replace("127.0.0.1", "localhost")
    refused = client.post("/api/v1/partners/turan/sources", json={"url": other}, headers=auth)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "not public" in detail and "localhost" in detail
    assert "127.0.0.1" not in detail and "::1" not in detail, detail
    # A poll refused by the address guard: operators read the address, the partner does not.
    with rt.sessions() as session:
        sid = session.scalar(select(Source.id).where(Source.kind == "feed"))
    jobs.poll_source(rt, sid)
    with rt.sessions() as session:
        recorded = session.get(Source, sid).last_error  # type: ignore[union-attr]
    assert recorded is not None and ("127.0.0.1" in recorded or "::1" in recorded), recorded
    ops_view = TestClient(create_app(rt), client=("127.0.0.1", 5)).get("/ops/status.json").json()
    assert any(s["last_error"] == recorded for s in ops_view["sources"])
    listed = client.get("/api/v1/partners/turan/sources", headers=auth).json()["sources"]
    assert len(listed) == 1 and "not public" in listed[0]["last_error"]
    assert "127.0.0.1" not in listed[0]["last_error"] and "::1" not in listed[0]["last_error"]
    assert feed_server.requests == []  # nothing was fetched from the hidden host
