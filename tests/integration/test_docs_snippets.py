"""[newcomer] 6: the guides' commands and programs, run for real against a live `syndication run`.

The partners guide is followed as a newcomer would: the operator's configuration block (docs/partners.md §9,
with only its example URLs and secrets replaced) configures the service, the operator's commands make the
webhook secret and the push key, the guide's Python receiver runs as a real HTTP server and receives real
signed deliveries from the service, and every curl command runs through bash with only SYND, PARTNER and KEY
set. The answers the guide shows (`<!-- output: … -->`) must be what the service answers. A snippet that
breaks fails these tests.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest

from syndication.publish.signing import signed_headers
from tests.builders import rss, rss_item
from tests.conftest import FeedServer, _handler_for, free_port
from tests.docsnippets import Block, guide

PARTNER = "caspianwire"
BIN = Path(sys.executable).parent
# The example values of the guides that name things outside a test machine, and what replaces them.
DOC_FEED = "https://caspianwire.example/rss.xml"
DOC_SOURCE = "https://caspianwire.example/business.xml"
DOC_HOOK = "https://hooks.caspianwire.example/syndication"
DOC_SECRET = "whsec_PASTE_FROM_NOTICES_SECRET"
DOC_TOKEN = "PASTE_A_LONG_RANDOM_TOKEN"
DOC_COURIER_FEED = "https://aktau-courier.example/feed.xml"
DOC_SUBSCRIBER_HOOK = "https://cms.baku-daily.example/hooks/syndication"
SUBSCRIBER_HOOK = "/subscriber-hook"
# Shell variables a snippet may use besides the guide's `env` block and its own assignments: values the
# text tells the reader to take from an earlier answer.
PER_SNIPPET_VARS = {"source-delete": {"SOURCE_ID"}}
# Every snippet of each guide, each run by a test below (`snippet()` refuses a name not listed here, and
# test_every_marked_block_of_the_guides_is_run fails on a marked block not listed here).
PARTNER_SNIPPETS = {"env", "operator-secret", "partner-config", "webhook-receiver", "operator-key", "push-json",
                    "push-atom", "push-rss", "correct", "withdraw", "error-media-type", "error-invalid-items",
                    "item-status", "source-add", "source-list", "source-delete", "notices", "verify-by-hand",
                    "operator-add-feed-partner"}
SUBSCRIBER_SNIPPETS = {"env", "conditional-get", "archive-walk", "public-notices", "subscriber-config"}


def wait_for(predicate: Any, timeout: float, what: str, detail: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail() if detail else ''}")
        time.sleep(0.1)


def substitute(text: str, replacements: dict[str, str]) -> str:
    for example, real in replacements.items():
        assert example in text, f"the guide no longer contains {example!r}: update this test's replacements"
        text = text.replace(example, real)
    return text


@dataclass
class Live:
    """A running service configured from the guide, and what the guide's steps answered."""

    root: Path
    base: str
    config: Path
    log: Path
    receiver_log: Path
    feeds: FeedServer
    secret: str = ""
    subscriber_secret: str = ""
    notices_token: str = ""
    key: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    run_log: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def env(self, **extra: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
        return {**clean, "PATH": f"{BIN}{os.pathsep}{clean.get('PATH', '')}", "SYND": self.base,
                "PARTNER": PARTNER, "KEY": self.key, **extra}

    def sh(self, block: Block, replacements: dict[str, str] | None = None, **extra: str) -> str:
        """Run a guide's shell block through bash (errexit, nounset, pipefail); its standard output."""
        assert block.lang == "sh", f"{block.doc}: {block.name} is not a sh block"
        code = substitute(block.code, replacements or {})
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=self.root, env=self.env(**extra),
                              capture_output=True, text=True, timeout=60)
        self.run_log[block.name] = proc
        assert proc.returncode == 0, f"{block.doc} snippet {block.name} failed ({proc.returncode}):\n{proc.stderr}"
        return proc.stdout

    def py(self, block: Block, **extra: str) -> str:
        """Run a guide's Python program as a script of its own; its standard output."""
        assert block.lang == "python", f"{block.doc}: {block.name} is not a python block"
        script = self.root / f"{block.name}.py"
        script.write_text(block.code)
        proc = subprocess.run([sys.executable, str(script)], cwd=self.root, env=self.env(**extra),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{block.doc} program {block.name} failed ({proc.returncode}):\n{proc.stderr}"
        return proc.stdout

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def received(self) -> list[dict[str, Any]]:
        text = self.receiver_log.read_text() if self.receiver_log.exists() else ""
        complete = text.split("\n")[:-1]  # a line still being written is read next time
        return [json.loads(line) for line in complete if line.startswith("{")]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _as_json(text: str) -> Any:
    return json.loads(text)


PARTNER_GUIDE = guide("partners.md")
SUBSCRIBER_GUIDE = guide("subscribers.md")


def snippet(name: str, doc: dict[tuple[str, str], Block] = PARTNER_GUIDE) -> Block:
    block = doc.get(("snippet", name))
    assert block is not None, f"no <!-- snippet: {name} --> in the guide"
    assert name in (PARTNER_SNIPPETS if doc is PARTNER_GUIDE else SUBSCRIBER_SNIPPETS)
    return block


def documented_output(name: str, doc: dict[tuple[str, str], Block] = PARTNER_GUIDE) -> Block:
    block = doc.get(("output", name))
    assert block is not None, f"no <!-- output: {name} --> in the guide"
    return block


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    for tool in ("bash", "curl"):
        assert shutil.which(tool), f"the guides' commands need {tool} on PATH"
    assert (BIN / "syndication").exists(), f"no `syndication` command beside {sys.executable}: pip install -e ."
    root = tmp_path_factory.mktemp("guide")
    feeds = FeedServer("127.0.0.1", 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(feeds))
    httpd.daemon_threads = True
    feeds.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    # The partner's polled feed (older than the pushed stories) and the feed they add through the API.
    feeds.add_feed("/rss.xml", rss([rss_item(i, guid=f"cw-feed-{i}", title=f"Caspian Wire feed story {i}")
                                    for i in range(3)]))
    feeds.add_feed("/business.xml", rss([rss_item(10, guid="cw-biz-1", title="Caspian Wire business story")]))
    feeds.add_feed("/courier.xml", rss([rss_item(i, guid=f"courier-{i}", title=f"Aktau Courier story {i}",
                                                 link=f"https://aktau-courier.example/news/{i}") for i in range(2)]))
    feeds.add(SUBSCRIBER_HOOK, b"", status=204)  # a subscriber's endpoint: records every delivery

    port, hook_port = free_port(), free_port()
    live = Live(root=root, base=f"http://127.0.0.1:{port}", config=root / "syndication.toml", log=root / "run.log",
                receiver_log=root / "receiver.log", feeds=feeds)

    # The operator makes a webhook secret (§9) and configures the partner with the guide's block.
    live.secret = live.sh(snippet("operator-secret")).strip()
    live.notices_token = secrets.token_urlsafe(32)
    partner_toml = substitute(snippet("partner-config").code, {
        DOC_FEED: feeds.url("/rss.xml"), DOC_HOOK: f"http://127.0.0.1:{hook_port}/hooks",
        DOC_SECRET: live.secret, DOC_TOKEN: live.notices_token,
    })
    # A subscriber's webhook (docs/subscribers.md), with a secret of its own from the same command.
    live.subscriber_secret = live.sh(snippet("operator-secret")).strip()
    assert live.subscriber_secret != live.secret
    subscriber_toml = substitute(snippet("subscriber-config", SUBSCRIBER_GUIDE).code, {
        DOC_SUBSCRIBER_HOOK: feeds.url(SUBSCRIBER_HOOK), DOC_SECRET: live.subscriber_secret,
    })
    live.config.write_text(
        f'data_dir = "{root / "var"}"\npublic_url = "{live.base}"\n'
        "[fetch]\nallow_private_addresses = true\n"
        "[publish]\nwindow = 4\ndebounce = 0.1\n"
        "[schedule]\ntick = 0.5\n"
        "[webhooks]\ninterval = 0.5\nbackoff_base = 0.5\n\n" + partner_toml + "\n" + subscriber_toml
    )

    # The partner's receiver (§7), as a real server on its own port.
    receiver_py = root / "receiver.py"
    receiver_py.write_text(snippet("webhook-receiver").code)
    receiver = subprocess.Popen(
        [sys.executable, str(receiver_py)], cwd=root, start_new_session=True,
        env={**live.env(), "WEBHOOK_SECRET": live.secret, "PORT": str(hook_port), "SEEN_DB": str(root / "ids.db")},
        stdout=live.receiver_log.open("wb"), stderr=subprocess.STDOUT,
    )
    service = subprocess.Popen(
        [sys.executable, "-m", "syndication.cli.app", "run", "--port", str(port)], cwd=root, start_new_session=True,
        env=live.env(SYNDICATION_CONFIG=str(live.config)), stdout=live.log.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _up(live.base), 60, "the service to answer /healthz", live.tail)
        # The operator issues the key (§9): the guide's command, its standard output is the key.
        live.key = live.sh(snippet("operator-key"), SYNDICATION_CONFIG=str(live.config)).strip()
        # The configured feed source is polled at start: its stories are out before the pushes.
        wait_for(lambda: b"Caspian Wire feed story 2" in httpx.get(f"{live.base}/feeds/all.atom").content, 30,
                 "the configured feed to be published", live.tail)
        for name in ("push-json", "push-atom", "push-rss", "correct", "withdraw",
                     "error-media-type", "error-invalid-items"):
            live.answers[name] = live.sh(snippet(name))
        yield live
    finally:
        _stop(service)
        _stop(receiver)
        httpd.shutdown()
        httpd.server_close()
        shutil.rmtree(root / "var", ignore_errors=True)


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# ---------------------------------------------------------------- docs/partners.md


def undefined_variables(doc: dict[tuple[str, str], Block], expected: set[str]) -> dict[str, set[str]]:
    """Per sh snippet, the shell variables it uses that neither the guide's `env` block nor the snippet
    itself defines (the tests set exactly the env block's variables, as a reader would)."""
    defined = set(re.findall(r"^export ([A-Z_]+)=", snippet("env", doc).code, re.M))
    assert defined == expected
    out = {}
    for (kind, name), block in doc.items():
        if kind == "snippet" and block.lang == "sh" and name != "env":
            used = set(re.findall(r"\$\{?([A-Z_]+)", block.code))
            assigned = set(re.findall(r"^([A-Z_]+)=", block.code, re.M))
            if missing := used - defined - assigned - PER_SNIPPET_VARS.get(name, set()):
                out[name] = missing
    return out


def test_env_block_defines_every_variable_the_partner_snippets_use() -> None:
    assert undefined_variables(PARTNER_GUIDE, {"SYND", "PARTNER", "KEY"}) == {}


@pytest.mark.parametrize("name", ["push-json", "push-atom", "push-rss", "correct", "withdraw",
                                  "error-media-type", "error-invalid-items"])
def test_push_answers_are_the_ones_the_guide_shows(live: Live, name: str) -> None:
    assert _as_json(live.answers[name]) == _as_json(documented_output(name).code), live.answers[name]


def test_operator_commands_give_a_working_secret_and_key(live: Live) -> None:
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", live.secret)
    assert re.fullmatch(r"synd_[0-9a-f]{8}_[A-Za-z0-9_-]{43}", live.key), live.key
    assert "not shown again" in live.run_log["operator-key"].stderr
    # The configured partner (the guide's block) is what the service runs with.
    config = tomllib.loads(live.config.read_text())
    [partner] = config["partners"]
    assert partner["id"] == PARTNER and {s["kind"] for s in partner["sources"]} == {"push", "feed"}


def test_item_status_shows_the_correction_and_the_channels(live: Live) -> None:
    status = _as_json(live.sh(snippet("item-status")))
    assert status["id"] == "cw-2026-0001" and status["version"] == 2 and len(status["versions"]) == 2
    assert status["change_note"] == "The closure lasted two weeks, not three."
    assert status["published"] is True and status["embargoed"] is False
    assert {c["id"] for c in status["channels"]} == {"all", f"partners/{PARTNER}"}
    embargoed = httpx.get(f"{live.base}/api/v1/partners/{PARTNER}/items/cw-2026-0002",
                          headers={"Authorization": f"Bearer {live.key}"}).json()
    assert embargoed["embargoed"] is True and embargoed["published"] is False
    withdrawn = httpx.get(f"{live.base}/api/v1/partners/{PARTNER}/items/cw-2026-0004",
                          headers={"Authorization": f"Bearer {live.key}"}).json()
    assert withdrawn["status"] == "withdrawn" and withdrawn["channels"] == []


def test_pushed_fields_reach_the_published_feeds(live: Live) -> None:
    def out() -> dict[str, Any] | None:
        doc = httpx.get(f"{live.base}/feeds/all.json").json()
        items = {i["_syndication"].get("partner_item_id") or i.get("external_url"): i for i in doc["items"]}
        corrected = [i for i in doc["items"] if "two-week closure" in (i.get("content_html") or "")]
        return {"doc": doc, "items": items} if corrected else None

    found = wait_for(out, 30, "the correction to be published", live.tail)
    titles = [i["title"] for i in found["doc"]["items"]]
    assert "Caspian sturgeon quotas cut again" in titles
    assert "Caspian summit agenda agreed" not in titles  # under embargo
    assert "Port of Baku handles record tonnage" not in titles  # withdrawn
    [ferry] = [i for i in found["doc"]["items"] if i["title"].startswith("Ferry line")]
    ext = ferry["_syndication"]
    assert ext["original_agency"] == "Trend news agency"
    assert ext["distributing_source"] == "commonspace.eu"
    assert ext["usage_terms"] == "Republish unedited, with credit and a link to the original."
    assert ext["rights"] == "© 2026 Caspian Wire"
    assert any(c.get("credit") == "Rashad Aliyev" for c in ext["image_credits"]), ext
    # One id for the story in every format (docs/subscribers.md, "Channels").
    uid = _key_of(live, "cw-2026-0001")["uid"]
    assert ferry["id"] == uid
    atom_ids = {e.id for e in feedparser.parse(httpx.get(f"{live.base}/feeds/all.atom").content).entries}
    rss_ids = {e.id for e in feedparser.parse(httpx.get(f"{live.base}/feeds/all.rss").content).entries}
    assert uid in atom_ids and uid in rss_ids


def test_feed_sources_are_added_listed_and_deleted(live: Live) -> None:
    added = _as_json(live.sh(snippet("source-add"), {DOC_SOURCE: live.feeds.url("/business.xml")}))
    assert added["url"] == live.feeds.url("/business.xml") and added["interval"] == 300 and added["enabled"]
    listed = _as_json(live.sh(snippet("source-list")))
    assert listed["push_enabled"] is True
    assert {s["url"] for s in listed["sources"]} == {live.feeds.url("/rss.xml"), live.feeds.url("/business.xml")}
    wait_for(lambda: b"Caspian Wire business story" in httpx.get(f"{live.base}/feeds/partners/{PARTNER}.atom").content
             or b"Caspian Wire business story" in httpx.get(f"{live.base}/api/v1/partners/{PARTNER}/items/cw-biz-1",
                                                             headers={"Authorization": f"Bearer {live.key}"}).content,
             30, "the added source to be polled", live.tail)
    deleted = live.sh(snippet("source-delete"), SOURCE_ID=str(added["id"]))
    assert deleted == documented_output("source-delete").code
    after = _as_json(live.sh(snippet("source-list")))
    assert {s["url"] for s in after["sources"]} == {live.feeds.url("/rss.xml")}


def test_notices_feed_lists_what_was_done(live: Live) -> None:
    def kinds() -> set[tuple[str, str]] | None:
        doc = _as_json(live.sh(snippet("notices")))
        got = {(i["_syndication"]["kind"], i["_syndication"]["partner_item_id"]) for i in doc["items"]}
        return got if ("withdrawn", "cw-2026-0004") in got and ("corrected", "cw-2026-0001") in got else None

    got = wait_for(kinds, 30, "the correction and withdrawal notices", live.tail)
    assert {("republished", "cw-2026-0001"), ("republished", "cw-2026-0003"),
            ("republished", "cw-2026-0004")} <= got
    assert not any(item == "cw-2026-0002" for _, item in got)  # embargoed: nothing to say yet
    # §6: a feed reader uses the notices token in the URL; the push key works only as a header.
    atom = httpx.get(f"{live.base}/notices/{PARTNER}.atom", params={"token": live.notices_token})
    assert atom.status_code == 200 and b"cw-2026-0004" in atom.content
    assert httpx.get(f"{live.base}/notices/{PARTNER}.atom", params={"token": live.key}).status_code == 403

    def unchanged_is_304() -> bool:  # twice in a row: a notice released in between changes the ETag
        url, token = f"{live.base}/notices/{PARTNER}.atom", {"token": live.notices_token}
        etag = httpx.get(url, params=token).headers["etag"]
        return httpx.get(url, params=token, headers={"If-None-Match": etag}).status_code == 304

    wait_for(unchanged_is_304, 10, "a 304 for an unchanged notices feed")


def test_the_guides_receiver_verifies_and_dedupes_real_deliveries(live: Live) -> None:
    def delivered() -> list[dict[str, Any]] | None:
        got = live.received()
        types = {(e["type"], e["partner_item_id"]) for e in got}
        return got if {("notice.corrected", "cw-2026-0001"), ("notice.withdrawn", "cw-2026-0004")} <= types else None

    got = wait_for(delivered, 60, "the receiver to print the correction and the withdrawal",
                   lambda: live.receiver_log.read_text() + "\n" + live.tail())
    withdrawn = next(e for e in got if e["type"] == "notice.withdrawn")
    assert withdrawn["action"] == "remove" and withdrawn["reason"] == "The tonnage figures were preliminary."
    assert not any(e["partner_item_id"] == "cw-2026-0002" for e in got)
    hook = next(line for line in live.config.read_text().splitlines() if line.startswith("webhook_url"))
    url = hook.split('"')[1]
    body = json.dumps({"type": "notice.withdrawn", "timestamp": "2026-11-30T12:00:00Z", "data": {
        "item_id": "urn:uuid:forged", "action": "remove", "partner_item_id": "cw-forged", "reason": None}}).encode()
    now = datetime.now(UTC)
    good = signed_headers(live.secret, "msg_" + "a" * 32, body, now)
    forged = {**good, "webhook-signature": "v1," + "A" * 44}
    stale = signed_headers(live.secret, "msg_" + "b" * 32, body, datetime.fromtimestamp(now.timestamp() - 600, UTC))
    other_key = signed_headers("whsec_" + "B" * 43 + "=", "msg_" + "c" * 32, body, now)
    for headers in (forged, stale, other_key, {}):
        assert httpx.post(url, content=body, headers=headers).status_code == 400
    assert not any(e["partner_item_id"] == "cw-forged" for e in live.received())  # refused, not handled
    assert httpx.post(url, content=body, headers=good).status_code == 204
    assert httpx.post(url, content=body, headers=good).status_code == 200  # the same webhook-id again
    assert [e["item_id"] for e in live.received() if e["partner_item_id"] == "cw-forged"] == ["urn:uuid:forged"]


def test_verify_by_hand_accepts_our_real_deliveries_and_nothing_else(live: Live) -> None:
    """The stdlib verifier of §7 and the standardwebhooks library agree on real deliveries (those the service
    sent to the subscriber endpoint of docs/subscribers.md), and both refuse tampering and other keys."""
    from standardwebhooks import Webhook, WebhookVerificationError

    namespace: dict[str, Any] = {}
    exec(compile(snippet("verify-by-hand").code, "partners.md:verify-by-hand", "exec"), namespace)
    verify = namespace["verify"]

    def posts() -> list[tuple[dict[str, str], bytes]] | None:
        got = [(h, b) for path, h, b in list(live.feeds.posts) if path == SUBSCRIBER_HOOK]
        kinds = {json.loads(b)["type"] for _, b in got}
        return got if {"notice.corrected", "notice.withdrawn"} <= kinds else None

    got = wait_for(posts, 60, "the subscriber's deliveries of the correction and the withdrawal", live.tail)
    for headers, body in got:
        event = verify(live.subscriber_secret, headers, body)
        assert event == Webhook(live.subscriber_secret).verify(body, headers)
        assert event["type"] in ("notice.corrected", "notice.withdrawn")  # the subscriber's kinds only
        with pytest.raises(ValueError):
            verify(live.subscriber_secret, headers, body.replace(b"Caspian", b"Kaspian"))
        with pytest.raises(ValueError):
            verify(live.secret, headers, body)  # the partner's secret is not the subscriber's
        with pytest.raises(WebhookVerificationError):
            Webhook(live.secret).verify(body, headers)
        with pytest.raises(ValueError):
            verify(live.subscriber_secret, {k: v for k, v in headers.items() if k != "webhook-id"}, body)
    stale = signed_headers(live.subscriber_secret, "msg_" + "d" * 32, got[0][1],
                           datetime.fromtimestamp(time.time() - 301, UTC))
    with pytest.raises(ValueError, match="window"):
        verify(live.subscriber_secret, stale, got[0][1])
    assert not any(json.loads(b)["data"]["partner_item_id"] == "cw-2026-0002" for _, b in got)  # embargoed


def test_a_feed_partner_added_by_command_is_polled_by_the_running_service(live: Live) -> None:
    out = live.sh(snippet("operator-add-feed-partner"), {DOC_COURIER_FEED: live.feeds.url("/courier.xml")},
                  SYNDICATION_CONFIG=str(live.config), COLUMNS="200")
    assert "partner aktau-courier saved" in out and "aktau-courier" in out.split("saved", 1)[1]

    def published() -> dict[str, Any] | None:
        doc = httpx.get(f"{live.base}/feeds/partners/aktau-courier.json")
        return doc.json() if doc.status_code == 200 and len(doc.json()["items"]) == 2 else None

    doc = wait_for(published, 30, "the new partner's feed to be polled and published", live.tail)
    ext = doc["items"][0]["_syndication"]
    assert ext["credit"] == "Aktau Courier" and ext["license_url"] == "https://creativecommons.org/licenses/by/4.0/"


# ---------------------------------------------------------------- docs/subscribers.md


def test_env_block_defines_every_variable_the_subscriber_snippets_use() -> None:
    assert undefined_variables(SUBSCRIBER_GUIDE, {"SYND"}) == {}


def test_conditional_get_answers_304(live: Live) -> None:
    block = snippet("conditional-get", SUBSCRIBER_GUIDE)
    expected = documented_output("conditional-get", SUBSCRIBER_GUIDE)
    # Retried: a publication between its two requests (another partner's poll) rightly answers 200.
    wait_for(lambda: live.sh(block) == expected.code, 10, "the snippet to print 304", lambda: live.run_log)
    assert (live.root / "all.atom").read_bytes().startswith(b"<?xml")


def _key_of(live: Live, partner_item_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{live.base}/api/v1/partners/{PARTNER}/items/{partner_item_id}",
                          headers={"Authorization": f"Bearer {live.key}"}).json())


def test_archive_walk_keeps_every_story_and_drops_the_withdrawn_one(live: Live) -> None:
    withdrawn = _key_of(live, "cw-2026-0004")["uid"]
    wait_for(lambda: withdrawn.encode() in httpx.get(f"{live.base}/feeds/all.atom").content, 30,
             "the tombstone of the withdrawn story", live.tail)
    wait_for(lambda: b"two-week closure" in httpx.get(f"{live.base}/feeds/all.atom").content, 30,
             "the correction to be published", live.tail)
    copy = json.loads(live.py(snippet("archive-walk", SUBSCRIBER_GUIDE)))
    assert copy["pages"] >= 2  # the window is 4 here: the polled feed's stories went to the archive
    titles = set(copy["items"].values())
    assert {"Caspian Wire feed story 0", "Caspian Wire feed story 1", "Caspian Wire feed story 2",
            "Ferry line between Baku and Aktau reopens", "Caspian sturgeon quotas cut again"} <= titles
    current = feedparser.parse(httpx.get(f"{live.base}/feeds/all.atom").content)
    assert len(current.entries) == 4 and "Caspian Wire feed story 0" not in {e.title for e in current.entries}
    assert withdrawn in copy["withdrawn"] and withdrawn not in copy["items"]
    assert _key_of(live, "cw-2026-0002")["uid"] not in copy["items"]  # under embargo


def test_public_notices_carry_corrections_and_withdrawals_only(live: Live) -> None:
    def notices() -> set[tuple[str, str, str]] | None:
        doc = _as_json(live.sh(snippet("public-notices", SUBSCRIBER_GUIDE)))
        got = {(i["_syndication"]["kind"], i["_syndication"]["partner_item_id"], i["_syndication"]["action"])
               for i in doc["items"]}
        return got if ("withdrawn", "cw-2026-0004", "remove") in got else None

    got = wait_for(notices, 30, "the public withdrawal notice", live.tail)
    assert ("corrected", "cw-2026-0001", "update") in got
    assert {kind for kind, _, _ in got} <= {"corrected", "withdrawn"}


def test_every_marked_block_of_the_guides_is_run() -> None:
    """A snippet added to a guide without a test that runs it fails here; so does an answer shown for no
    snippet."""
    for doc, listed in ((PARTNER_GUIDE, PARTNER_SNIPPETS), (SUBSCRIBER_GUIDE, SUBSCRIBER_SNIPPETS)):
        marked = {name for kind, name in doc if kind == "snippet"}
        assert marked == listed
        assert {name for kind, name in doc if kind == "output"} <= marked


