"""[trust] A failed channel publish is retried with backoff within seconds, counted in the database
(`syndication_publish_failures_total{channel}`, the same from every process), shown in `status`, `/ops`
and `failures`, and keeps `/readyz` at 503 with the reason until a publish succeeds.

The embedded service as `syndication run` composes it (the app, the in-process dispatcher, the scheduler
ticking), on SQLite and PostgreSQL, driven over HTTP; the CLI over the same database. The filesystem is
failed the way root cannot bypass: a file where the feeds directory must be.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.operations.service import start_scheduler
from syndication.partners.keys import issue_key, load_pepper
from syndication.runtime.context import Runtime
from syndication.runtime.dispatch import make_dispatcher
from syndication.web.app import create_app

LOOPBACK = ("127.0.0.1", 50000)
PARTNERS = [{"id": "turan", "name": "Turan", "credit": "Turan news agency", "sources": [{"kind": "push"}]}]


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Seconds until `check()` held."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return time.monotonic() - start


def failures_total(client: TestClient, channel: str) -> int:
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == "syndication_publish_failures":
            for s in family.samples:
                if s.name == "syndication_publish_failures_total" and s.labels.get("channel") == channel:
                    return int(s.value)
    return 0


def cli(tmp_path: Path, rt: Runtime, *args: str) -> Any:
    from syndication.cli.app import app

    cfg = tmp_path / "cli.toml"
    cfg.write_text(f'data_dir = "{rt.settings.data_dir}"\ndatabase_url = "{rt.settings.effective_database_url}"\n')
    out = CliRunner().invoke(app, ["--config", str(cfg), *args, "--json"])
    assert out.exit_code in (0, 1), out.output
    return out.exit_code, json.loads(out.stdout)


def test_failed_publish_is_retried_counted_shown_and_not_ready(
    make_runtime: Callable[..., Runtime], database_url: str, tmp_path: Path
) -> None:
    rt = make_runtime(database_url=database_url, partners=PARTNERS, schedule={"tick": 0.2},
                      publish={"retry_base": 0.3, "retry_cap": 1.0})  # refresh_interval stays 300 s
    with transaction(rt.sessions) as session:
        key = issue_key(session, "turan", load_pepper(rt.settings), utcnow()).key
    rt.dispatcher = make_dispatcher(rt)
    sched = start_scheduler(rt)
    client = TestClient(create_app(rt), client=LOOPBACK)
    feeds = rt.settings.feeds_dir
    try:
        wait_for("the first publish at start", lambda: (feeds / "partners/turan.json").exists()
                 and rt.dispatcher is not None and getattr(rt.dispatcher, "pending", 1) == 0, 30)
        assert client.get("/readyz").status_code == 200

        feeds.rename(tmp_path / "feeds-before")  # atomic: a publish still running writes there, harmlessly
        feeds.write_text("not a directory\n")
        push = client.post("/api/v1/partners/turan/items", headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"}, content=json.dumps(
            {"items": [{"id": "b1", "title": "Breaking story", "content_html": "<p>Body.</p>",
                        "url": "https://turan.example/b1", "date_published": "2026-11-20T09:00:00Z"}]}))
        assert push.status_code == 202, push.text

        wait_for("/readyz answers 503 naming channel all",
                 lambda: "channel all " in client.get("/readyz").json().get("publish", ""), 15)
        resp = client.get("/readyz")
        ready = resp.json()
        assert resp.status_code == 503 and ready["status"] == "unavailable" and ready["database"] == "ok"
        assert "channel all not published since" in ready["publish"] and "Not a directory" in ready["publish"]
        # Retried with backoff, by the scheduler's tick, within seconds (no new change, no refresh).
        first = failures_total(client, "all")
        assert first >= 1
        wait_for("two more attempts", lambda: failures_total(client, "all") >= first + 2, 15)

        code, snap = cli(tmp_path, rt, "status")
        failing = {f["channel"]: f for f in snap["publishing"]["failing"]}
        assert {"all", "partners/turan"} <= set(failing) and code == 0
        assert failing["all"]["consecutive_failures"] >= 2 and "Not a directory" in failing["all"]["last_error"]
        assert failing["all"]["next_retry_at"] is not None
        assert snap["publishing"]["pending_notices"]["count"] == 1  # the new item's notice waits
        code, listed = cli(tmp_path, rt, "failures")
        assert "all" in {f["channel"] for f in listed["publishing"]}
        page = client.get("/ops", headers={"Accept": "text/html"}).text
        assert 'id="publish-failures"' in page and 'data-channel="all"' in page and "Not a directory" in page
        assert client.get("/ops/status.json").json()["failures"]["publishing"]

        feeds.unlink()  # the operator fixes the fault
        took = wait_for("/readyz answers 200 again", lambda: client.get("/readyz").status_code == 200, 15)
        assert took < 15  # the next retry, not the 300 s refresh
        assert "Breaking story" in client.get("/feeds/all.json").text
        assert client.get("/readyz").json() == {"status": "ok", "database": "ok", "publish": "ok"}
        wait_for("the notice released", lambda: cli(tmp_path, rt, "status")[1]["publishing"]["pending_notices"]
                 ["count"] == 0, 15)
        total = failures_total(client, "all")
        assert total >= first + 2
        code, snap = cli(tmp_path, rt, "status")
        assert snap["publishing"]["failing"] == [] and snap["failures"]["publishing"] == []
        assert 'id="publish-ok"' in client.get("/ops", headers={"Accept": "text/html"}).text
    finally:
        sched.shutdown(wait=True)
        client.close()
    # Another process (a second web role on the same database) reports the same total.
    other = TestClient(create_app(make_runtime(database_url=database_url, partners=PARTNERS)), client=LOOPBACK)
    assert failures_total(other, "all") == total
    assert other.get("/readyz").status_code == 200
    other.close()
