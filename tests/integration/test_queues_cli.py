"""`syndication queues`: waiting and unacked tasks per queue, read from the real Redis with the key prefix."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from syndication.cli.app import app
from syndication.kernel.settings import load_settings
from syndication.runtime.dispatch import make_celery

pytestmark = pytest.mark.redis
runner = CliRunner()


def test_queues_counts_waiting_tasks_under_the_key_prefix(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNDICATION_BROKER_URL", redis_url)
    monkeypatch.setenv("SYNDICATION_CELERY__KEY_PREFIX", "qtest:")
    celery = make_celery(load_settings(None))
    for _ in range(3):
        celery.send_task("syndication.poll_source", args=[1, "token"], queue="fetch")
    celery.send_task("syndication.publish_all", queue="publish")
    result = runner.invoke(app, ["queues", "--json"])
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    depth = {q["queue"]: q["depth"] for q in state["queues"]}
    assert depth == {"fetch": 3, "publish": 1, "notify": 0}
    fetch = next(q for q in state["queues"] if q["queue"] == "fetch")
    assert fetch["oldest_age_seconds"] is not None and fetch["oldest_age_seconds"] >= 0
    assert state["running"] == 0
    monkeypatch.setenv("SYNDICATION_BROKER_URL", "redis://127.0.0.1:1/0")
    result = runner.invoke(app, ["queues"])
    assert result.exit_code == 1 and "broker not answering" in result.output
