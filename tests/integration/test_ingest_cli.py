"""`syndication ingest` polls as the service does: concurrently within the per-host limits, through the
parse processes when configured, publishing once; progress on a terminal only, JSON unchanged in shape."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import func, select
from typer.testing import CliRunner

from syndication.cli import app as cli
from syndication.cli import common as cli_common
from syndication.db.models import Item
from syndication.kernel.settings import load_settings
from syndication.publish.feeds import RENDERERS
from syndication.runtime import cpu
from syndication.runtime.context import open_runtime
from tests.builders import rss, rss_item
from tests.conftest import FeedServer

runner = CliRunner()


@pytest.fixture(autouse=True)
def _on_both_databases(_isolated_env: None, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """[hardening] 9: `syndication ingest` stores on SQLite and on the real PostgreSQL (the environment beats the
    file; `stored` below reads the same database)."""
    monkeypatch.setenv("SYNDICATION_DATABASE_URL", database_url)


class Flight:
    """What the partners' server saw: requests in flight, per host and in all, at their peak."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.total = 0
        self.peak_total = 0

    def enter(self, host: str) -> None:
        with self.lock:
            self.now[host] = self.now.get(host, 0) + 1
            self.total += 1
            self.peak[host] = max(self.peak.get(host, 0), self.now[host])
            self.peak_total = max(self.peak_total, self.total)

    def leave(self, host: str) -> None:
        with self.lock:
            self.now[host] -= 1
            self.total -= 1


def serve_partner(server: FeedServer, flight: Flight, n: int, items: int = 2, delay: float = 0.4,
                  host: str = "127.0.0.1") -> str:
    body = rss([rss_item(100 * n + i, title=f"Partner {n} story {i}") for i in range(items)]).encode()
    path = f"/p{n}.rss"

    def handler(h: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        name = (h.headers.get("Host") or "").split(":")[0]
        flight.enter(name)
        try:
            time.sleep(delay)
        finally:
            flight.leave(name)
        return 200, {"Content-Type": "application/rss+xml"}, body

    server.add(path)
    server.routes[path].handler = handler
    return f"http://{host}:{server.port}{path}"


def write_config(tmp_path: Path, urls: list[str], extra: str = "") -> Path:
    path = tmp_path / "syndication.toml"
    lines = [f'data_dir = "{tmp_path / "var"}"', "[fetch]", "allow_private_addresses = true", extra]
    for n, url in enumerate(urls):
        lines += ["[[partners]]", f'id = "p{n}"', f'name = "Partner {n}"',
                  "[[partners.sources]]", 'kind = "feed"', f'url = "{url}"']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ingest(cfg: Path, *args: str) -> Any:
    result = runner.invoke(cli.app, ["--config", str(cfg), "ingest", *args])
    assert result.exit_code == 0, result.output
    return result


def stored(cfg: Path) -> int:
    rt = open_runtime(load_settings(cfg))
    try:
        with rt.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Item)) or 0)
    finally:
        rt.close()


@pytest.fixture
def flight() -> Flight:
    return Flight()


def test_ingest_polls_concurrently_within_the_per_host_limit(
    tmp_path: Path, feed_server: FeedServer, flight: Flight
) -> None:
    # Two hosts (the same server under two names), four partners each; 4 polling threads, 2 per host.
    urls = [serve_partner(feed_server, flight, n, host="127.0.0.1" if n % 2 else "localhost") for n in range(8)]
    cfg = write_config(tmp_path, urls)
    out = json.loads(ingest(cfg, "--json").stdout)
    assert [s["status"] for s in out["sources"]] == ["ok"] * 8
    assert flight.peak == {"127.0.0.1": 2, "localhost": 2}, "per host: fetch.per_host_concurrency (2)"
    assert flight.peak_total == 4, "in all: schedule.executor_threads (4)"
    assert stored(cfg) == 16


def test_ingest_per_host_limit_is_the_configured_one(
    tmp_path: Path, feed_server: FeedServer, flight: Flight
) -> None:
    urls = [serve_partner(feed_server, flight, n) for n in range(6)]
    cfg = write_config(tmp_path, urls, "per_host_concurrency = 3")
    ingest(cfg, "--json")
    assert flight.peak == {"127.0.0.1": 3}


def test_ingest_reports_in_source_order_and_publishes_once(
    tmp_path: Path, feed_server: FeedServer, flight: Flight, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders: list[str] = []
    original = RENDERERS["atom"]

    def counting(spec: Any, *args: Any, **kwargs: Any) -> bytes:
        renders.append(spec.id)
        return original(spec, *args, **kwargs)

    monkeypatch.setitem(RENDERERS, "atom", counting)
    # The first partner answers last: the summary still lists the sources in their order.
    urls = [serve_partner(feed_server, flight, n, delay=0.6 - 0.1 * n) for n in range(5)]
    cfg = write_config(tmp_path, urls)
    out = json.loads(ingest(cfg, "--json").stdout)
    assert [s["partner"] for s in out["sources"]] == [f"p{n}" for n in range(5)]
    assert out["sources"][0] == {"partner": "p0", "source": urls[0], "status": "ok", "new": 2, "updated": 0,
                                 "unchanged": 0, "rejected": 0, "error": None}
    assert renders.count("all") == 1
    assert sorted(renders) == sorted(["all"] + [f"partners/p{n}" for n in range(5)])


def test_ingest_uses_the_parse_processes(
    tmp_path: Path, feed_server: FeedServer, flight: Flight, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared: list[str | None] = []
    original = cpu.ParsePool.prepare

    def counting(self: cpu.ParsePool, body: bytes, headers: Any, url: str | None, *args: Any) -> Any:
        prepared.append(url)
        return original(self, body, headers, url, *args)

    monkeypatch.setattr(cpu.ParsePool, "prepare", counting)
    urls = [serve_partner(feed_server, flight, n, delay=0.05) for n in range(3)]
    cfg = write_config(tmp_path, urls, "[schedule]\nparse_processes = 1")
    out = json.loads(ingest(cfg, "--json").stdout)
    assert [s["new"] for s in out["sources"]] == [2, 2, 2]
    assert sorted(prepared) == sorted(urls), "every fetched document went through the parse process pool"
    assert stored(cfg) == 6


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    screen = io.StringIO()
    monkeypatch.setattr(cli_common, "console", Console(file=screen, force_terminal=True, width=160))
    yield screen


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


def test_ingest_shows_progress_on_a_terminal(
    tmp_path: Path, feed_server: FeedServer, flight: Flight, terminal: io.StringIO
) -> None:
    urls = [serve_partner(feed_server, flight, n, items=3, delay=0.3) for n in range(3)]
    cfg = write_config(tmp_path, urls)
    ingest(cfg)
    shown = plain(terminal.getvalue())
    assert re.search(r"Polling .*0/3 sources\s+0 items", shown), shown
    assert re.search(r"3/3 sources\s+9 items", shown), shown
    assert "Ingest" in shown and "p2" in shown  # the summary table follows


def test_ingest_json_has_no_progress_even_on_a_terminal(
    tmp_path: Path, feed_server: FeedServer, flight: Flight, terminal: io.StringIO
) -> None:
    urls = [serve_partner(feed_server, flight, n, delay=0.2) for n in range(2)]
    cfg = write_config(tmp_path, urls)
    result = ingest(cfg, "--json")
    assert terminal.getvalue() == ""
    assert len(json.loads(result.stdout)["sources"]) == 2


def test_ingest_no_progress_when_not_a_terminal(tmp_path: Path, feed_server: FeedServer, flight: Flight) -> None:
    urls = [serve_partner(feed_server, flight, n, delay=0.2) for n in range(2)]
    cfg = write_config(tmp_path, urls)
    result = ingest(cfg)  # CliRunner's stdout is not a terminal
    assert "Polling" not in result.output and "sources" not in result.output
    assert "Ingest" in result.output
