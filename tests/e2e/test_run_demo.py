"""The README's first command: `syndication run` with the demo config serves the demo within 10 s."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest

from tests.conftest import REPO, free_port
from tests.feedcheck import assert_valid_ninjs

pytestmark = pytest.mark.slow


def _start(cwd: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    return subprocess.Popen(
        [sys.executable, "-m", "syndication.cli.app", "run", "--port", str(port)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _wait_for_items(url: str, proc: subprocess.Popen[bytes], deadline: float) -> feedparser.FeedParserDict:
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"syndication run exited with {proc.returncode}:\n{out[-3000:]}")
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                last = feedparser.parse(r.content)
                if len(last.entries) >= 10:
                    return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"no demo items at {url} within 10 s (last: {len(last.entries) if last else 'no feed'})")


def _wait_for_ninjs(url: str, deadline: float) -> dict[str, Any]:
    """The channel's ninjs document once it holds 10 items (written with the Atom one, in the same run)."""
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = httpx.get(url, timeout=2)
        if r.status_code == 200:
            assert r.headers["content-type"] == "application/json; charset=utf-8"
            doc = assert_valid_ninjs(r.content, url)
            if len(doc["items"]) >= 10:
                return doc
        time.sleep(0.2)
    pytest.fail(f"no 10 items at {url} in time (last: {len(doc.get('items', ()))})")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_run_serves_demo_within_10_seconds_and_again(tmp_path: Path) -> None:
    shutil.copytree(REPO / "config", tmp_path / "config")
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "config").rglob("*"))
    for attempt in (1, 2):
        port = free_port()
        start = time.monotonic()
        proc = _start(tmp_path, port)
        try:
            feed = _wait_for_items(f"http://127.0.0.1:{port}/feeds/all.atom", proc, start + 10)
            assert feed.bozo == 0
            titles = [e.title for e in feed.entries]
            assert any("Caspian ferry fleet" in t for t in titles), titles
            assert all(e.get("source", {}).get("title") for e in feed.entries)
            # [wire] the same channel as ninjs 2.2, every item valid against IPTC's schema.
            ninjs = _wait_for_ninjs(f"http://127.0.0.1:{port}/feeds/all.ninjs.json", start + 15)
            assert {i["uri"] for i in ninjs["items"]} & {e.id for e in feed.entries}
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            assert health.status_code == 200 and health.json()["status"] == "ok"
        finally:
            _stop(proc)
        assert proc.returncode == 0, f"run {attempt} exited with {proc.returncode}"
    # Running the demo never consumes the demo content.
    after = sorted(p.relative_to(tmp_path) for p in (tmp_path / "config").rglob("*"))
    assert after == before
