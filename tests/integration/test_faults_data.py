"""Data-side faults with a real worker, real Redis and real PostgreSQL:
- the PostgreSQL backend of a running task is terminated: the task retries (backoff) and succeeds;
- a poison item (one entry PostgreSQL refuses to store) is retried, dead-lettered, and the rest of its
  batch is still published;
- a permanent task failure is dead-lettered without retry; an unwritable feeds directory is not a task
  failure but counted channel failures ([trust])."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select, text

from syndication.db.models import DeadLetter, Item, Poll
from syndication.kernel.clock import utcnow
from syndication.operations.service import tick
from syndication.runtime import deadletters, tasks
from syndication.runtime.schedule import claim_due
from tests.builders import rss, rss_item
from tests.integration.scaled_support import (
    WorkerProc,
    atom_entries,
    open_scaled_runtime,
    scaled_env,
    tail,
    wait_for,
    workers,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]


def test_postgres_backend_terminated_mid_task_retries_and_succeeds(
    tmp_path: Path, feed_server, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = feed_server.add_feed("/wire.rss", rss(12))
    config = write_config(tmp_path / "syndication.toml", [("wire", url)])
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, postgres_url, config)
    rt = open_scaled_runtime(env, monkeypatch)
    log = tmp_path / "worker.log"
    # Hold a lock on items so the worker's store blocks inside its transaction; then kill its backend.
    locker = psycopg.connect(postgres_url, autocommit=False)
    try:
        with workers() as started:
            started.append(WorkerProc(env, log).ready())
            claimed = claim_due(rt.sessions, utcnow(), lease_seconds=300, limit=10)
            assert len(claimed) == 1
            locker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
            rt.dispatcher.poll(*claimed[0])
            admin = psycopg.connect(postgres_url, autocommit=True)

            def blocked_backends() -> list[int]:
                rows = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND wait_event_type = 'Lock'").fetchall()
                return [r[0] for r in rows]

            pids = wait_for(blocked_backends, 30, "the worker's store to block on the items lock",
                            on_fail=lambda: tail(log))
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            locker.rollback()  # release the lock: the retry can store
            wait_for(lambda: len(atom_entries(data_dir)) == 12, 40, "12 items in all.atom", on_fail=lambda: tail(log))
            text = tail(log, 10**7)
            assert "transient failure" in text and "retry 1/" in text, text[-3000:]
            admin.close()
        with rt.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Item)) == 12
            assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0
            outcomes = list(s.scalars(select(Poll.outcome)))
        assert outcomes == ["ok"], "the failed attempt is retried, not recorded as a failed poll"
    finally:
        locker.close()
        rt.close()


def test_poison_item_dead_lettered_rest_of_batch_published(
    tmp_path: Path, feed_server, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Values over a column's size are fitted since [hardening] 2, so the poison is a row PostgreSQL itself
    # refuses: a trigger raising the error an over-long value raised before (22001, a DataError).
    poison = "https://agency.example/news/poison"
    items = [rss_item(i) for i in range(6)]
    items.insert(3, rss_item(99, link=poison, guid=poison, title="Poison"))
    url = feed_server.add_feed("/wire.rss", rss(items))
    config = write_config(tmp_path / "syndication.toml", [("wire", url)])
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, postgres_url, config)
    rt = open_scaled_runtime(env, monkeypatch)
    with rt.sessions() as s, s.begin():
        s.execute(text(
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN IF NEW.title = 'Poison' THEN "
            "RAISE EXCEPTION 'value too long for type character varying(2000)' USING ERRCODE = '22001'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"))
        s.execute(text("CREATE TRIGGER refuse_poison BEFORE INSERT ON items FOR EACH ROW "
                       "EXECUTE FUNCTION refuse_poison()"))
    log = tmp_path / "worker.log"
    try:
        with workers() as started:
            started.append(WorkerProc(env, log).ready())
            assert tick(rt) == 1
            wait_for(lambda: len(atom_entries(data_dir)) == 6, 40, "the 6 good items in all.atom",
                     on_fail=lambda: tail(log))
        titles = sorted(e.title for e in atom_entries(data_dir))
        assert titles == [f"Story {i}" for i in range(6)]
        letters = deadletters.list_dead_letters(rt.sessions)
        assert len(letters) == 1, letters
        dl = letters[0]
        assert dl.task == tasks.TASK_STORE_ITEM
        assert dl.args[0] == 1 and dl.args[2] == poison
        assert dl.attempts == 2 and "DataError" in dl.error and dl.traceback
        with rt.sessions() as s:
            poll = s.scalars(select(Poll)).one()
        assert (poll.outcome, poll.new, poll.rejected) == ("ok", 6, 1)
    finally:
        rt.close()


def test_permanent_task_failure_is_dead_lettered_without_retry(
    tmp_path: Path, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publish_all on a worker whose data directory is a file (its runtime cannot open): a permanent error,
    no retries, one letter. (An unwritable feeds directory is not one: see the next test.)"""
    config = write_config(tmp_path / "syndication.toml", [])
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    env = scaled_env(data_dir, redis_url, postgres_url, config)
    rt = open_scaled_runtime(env, monkeypatch)
    data_dir.rename(tmp_path / "var-moved")
    data_dir.write_text("a file where the data directory should be")
    log = tmp_path / "worker.log"
    try:
        with workers() as started:
            w = WorkerProc(env, log, queues="publish").ready()
            started.append(w)
            assert rt.dispatcher is not None
            rt.dispatcher.publish_all()
            wait_for(lambda: deadletters.list_dead_letters(rt.sessions), 30, "a dead letter",
                     on_fail=lambda: tail(log))
            assert w.received(tasks.TASK_PUBLISH_ALL) == 1, "a permanent failure is not retried"
        [dl] = deadletters.list_dead_letters(rt.sessions)
        assert dl.task == tasks.TASK_PUBLISH_ALL and dl.args == [] and dl.attempts == 1
        assert "Error" in dl.error and dl.traceback
    finally:
        rt.close()


def test_unwritable_feeds_are_counted_channel_failures_not_dead_letters(
    tmp_path: Path, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[trust] publish_all with a feeds directory that cannot be written: the worker records each channel's
    failure in the database (retried with backoff by the scheduler's tick), the task itself succeeds."""
    from syndication.publish.failures import failing

    config = write_config(tmp_path / "syndication.toml", [])
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "public").write_text("a file where the public directory should be")
    env = scaled_env(data_dir, redis_url, postgres_url, config)
    rt = open_scaled_runtime(env, monkeypatch)
    log = tmp_path / "worker.log"

    def failing_channels() -> set[str]:
        with rt.sessions() as session:
            return {h.channel for h in failing(session)}

    try:
        with workers() as started:
            w = WorkerProc(env, log, queues="publish").ready()
            started.append(w)
            assert rt.dispatcher is not None
            rt.dispatcher.publish_all()
            wait_for(lambda: {"all", "notices/all"} <= failing_channels(), 30, "channel failures recorded",
                     on_fail=lambda: tail(log))
            assert w.received(tasks.TASK_PUBLISH_ALL) == 1
            assert "Not a directory" in tail(log) or "File exists" in tail(log)
        assert deadletters.list_dead_letters(rt.sessions) == []
        with rt.sessions() as session:
            [all_] = [h for h in failing(session) if h.channel == "all"]
        assert all_.failures_total == 1 and all_.next_retry_at is not None and all_.last_error
    finally:
        rt.close()


def test_soft_time_limit_retries_then_dead_letters(
    tmp_path: Path, feed_server, redis_url: str, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll that hangs past the soft time limit is retried (a transient failure); when the retries are
    exhausted it lands in dead_letters with its args and the attempts made."""
    release = threading.Event()

    def hang(_req):
        release.wait(30)
        return 503, {"Content-Type": "text/plain"}, b"late"

    url = feed_server.add("/hang.rss")
    feed_server.routes["/hang.rss"].handler = hang
    config = write_config(tmp_path / "syndication.toml", [("hang", url)])
    data_dir = tmp_path / "var"
    env = scaled_env(data_dir, redis_url, postgres_url, config, SYNDICATION_CELERY__SOFT_TIME_LIMIT="2",
                     SYNDICATION_CELERY__TIME_LIMIT="5", SYNDICATION_CELERY__MAX_RETRIES="1")
    rt = open_scaled_runtime(env, monkeypatch)
    log = tmp_path / "worker.log"
    try:
        with workers() as started:
            w = WorkerProc(env, log, queues="fetch").ready()
            started.append(w)
            [(source_id, token)] = claim_due(rt.sessions, utcnow(), lease_seconds=300, limit=10)
            assert rt.dispatcher is not None
            rt.dispatcher.poll(source_id, token)
            wait_for(lambda: deadletters.list_dead_letters(rt.sessions), 40, "the dead letter",
                     on_fail=lambda: tail(log))
            assert w.received(tasks.TASK_POLL) == 2, "one retry, then the dead letter"
        [dl] = deadletters.list_dead_letters(rt.sessions)
        assert dl.task == tasks.TASK_POLL and dl.args == [source_id, token]
        assert dl.attempts == 2 and "SoftTimeLimitExceeded" in dl.error
    finally:
        release.set()
        rt.close()
