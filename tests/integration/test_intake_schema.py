"""The [intake] migration (0002_intake) on SQLite and PostgreSQL, and the status fields it feeds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect
from typer.testing import CliRunner

from syndication.cli.app import app
from syndication.db.session import make_engine, migrate
from syndication.runtime.context import Runtime
from tests.builders import rss
from tests.conftest import FeedServer


def test_migration_adds_intake_columns(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        columns = {c["name"] for c in inspect(engine).get_columns("sources")}
        assert {"current_interval", "redirects"} <= columns
    finally:
        engine.dispose()


def test_status_json_shows_every_intake_field_and_no_secret(
    tmp_path: Path, feed_server: FeedServer, make_runtime: Callable[..., Runtime]
) -> None:
    url = feed_server.add_feed("/f.rss", rss(2))
    feed_server.add("/old")
    feed_server.routes["/old"].handler = lambda h: (301, {"Location": url}, b"")
    cfg = tmp_path / "syndication.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[fetch]\nallow_private_addresses = true\n'
        '[[partners]]\nid = "p"\nname = "P"\n'
        f'[[partners.sources]]\nkind = "feed"\nurl = "{feed_server.url("/old")}"\ninterval = 120\n'
        'username = "ann"\npassword = "hunter2-secret"\n'
    )
    runner = CliRunner()
    out = runner.invoke(app, ["--config", str(cfg), "ingest", "--json"])
    assert out.exit_code == 0, out.output
    res = runner.invoke(app, ["--config", str(cfg), "status", "--json"])
    assert res.exit_code == 0, res.output
    assert "hunter2-secret" not in res.output and "hunter2-secret" not in out.output
    st = json.loads(res.stdout)["sources"][0]
    assert st["effective_url"] == url
    # [newcomer] The poll found new items: the source is polled at its configured interval, with no reason to
    # differ (before, the builder's week-old dates sent it to the 6 h maximum at once).
    assert st["configured_interval"] == 120 and st["interval"] == 120 and st["interval_reason"] is None
    assert st["max_interval"] == 4 * 120
    assert st["next_poll"].endswith("Z") and st["consecutive_errors"] == 0 and st["last_status"] == 200
    assert st["last_error"] is None and "last_error_at" in st
    assert st["state"] == "ok" and st["enabled"] is True and st["disabled_reason"] is None
    assert st["last_accepted"] == 2 and st["last_rejected"] == 0 and st["partly_parsed"] is False
    assert st["redirects"] == [[301, url]] and st["credentials"] == "basic as ann"



def test_check_feed_command(tmp_path: Path, feed_server: FeedServer) -> None:
    url = feed_server.add_feed("/f.rss", rss(3))
    html = feed_server.add("/page", "<html><body>hi</body></html>", content_type="text/html")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "var"}"\n[fetch]\nallow_private_addresses = true\n')
    runner = CliRunner()
    res = runner.invoke(app, ["--config", str(cfg), "check-feed", url, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["ok"] is True and out["entries"] == 3 and out["format"] == "rss" and out["status"] == 200
    res = runner.invoke(app, ["--config", str(cfg), "check-feed", html])
    assert res.exit_code == 1
    assert res.stderr.startswith("error: not a feed: HTTP 200, content type text/html") and res.stderr.count("\n") == 1
    # The guard applies as in a poll.
    strict = tmp_path / "s.toml"
    strict.write_text(f'data_dir = "{tmp_path / "var2"}"\n')
    res = runner.invoke(app, ["--config", str(strict), "check-feed", url, "--json"])
    assert res.exit_code == 1 and "non-public address 127.0.0.1" in json.loads(res.stdout)["error"]
