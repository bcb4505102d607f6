"""The storage layer on SQLite and on the real PostgreSQL (parametrised by the `database_url` fixture):
item upserts and their idempotency, lease claims under concurrency, the outbox relay, migrations."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from syndication.db.models import Channel, DeadLetter, Event, Item, ItemVersion, Partner, Source
from syndication.db.session import alembic_config, make_engine, make_sessionmaker, migrate, transaction
from syndication.intake.parse import parse_document
from syndication.kernel.clock import utcnow
from syndication.kernel.domain import PartnerPolicy
from syndication.pipeline.ingest import store_items
from syndication.pipeline.normalise import normalise_feed
from syndication.publish.publisher import relay_outbox
from syndication.runtime import deadletters, replay, tasks
from syndication.runtime.context import Runtime
from syndication.runtime.schedule import claim_due, claim_sources
from tests.builders import rss, rss_item

PARTNER = {"id": "wire", "name": "Wire", "credit": "Wire news agency",
           "sources": [{"kind": "feed", "url": "https://wire.example/rss"}]}
POLICY = PartnerPolicy(id="wire", name="Wire", credit="Wire news agency", homepage=None, license_url=None,
                       usage_terms=None, copyright=None, language=None)


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime], database_url: str) -> Runtime:
    return make_runtime(database_url=database_url, partners=[PARTNER])


def normalised(body: str) -> tuple[list[Any], list[Any]]:
    parsed = parse_document(body.encode(), {"content-type": "application/rss+xml"}, "https://wire.example/rss")
    return normalise_feed(parsed, POLICY, now=utcnow(), document_url="https://wire.example/rss")


def store(rt: Runtime, body: str) -> Any:
    items, rejections = normalised(body)
    with transaction(rt.sessions) as session:
        return store_items(session, items, rejections, now=utcnow(), source_id=None)


def count(rt: Runtime, model: Any, *where: Any) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_store_items_upsert_is_idempotent(rt: Runtime) -> None:
    first = store(rt, rss(5))
    assert (first.new, first.updated, first.unchanged) == (5, 0, 0)
    again = store(rt, rss(5))
    assert (again.new, again.updated, again.unchanged) == (0, 0, 5)
    assert count(rt, Item) == 5 and count(rt, ItemVersion) == 5
    assert count(rt, Event, Event.kind == "item.created") == 5
    changed = store(rt, rss([rss_item(i) for i in range(4)] + [rss_item(4, title="Story 4, corrected headline")]))
    assert (changed.new, changed.updated, changed.unchanged) == (0, 1, 4)
    assert count(rt, Item) == 5 and count(rt, ItemVersion) == 6
    assert count(rt, Event, Event.kind == "item.updated") == 1
    with rt.sessions() as s:
        assert s.scalar(select(Item.version).where(Item.guid == "agency-4")) == 2


def test_concurrent_duplicate_stores_never_duplicate_items(rt: Runtime) -> None:
    """A redelivered task racing the original: the unique key keeps one row per item."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            store(rt, rss(10))
        except Exception as exc:  # the loser of a unique-key race may fail; it must never duplicate
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert count(rt, Item) == 10
    assert count(rt, Event, Event.kind == "item.created") == 10
    assert len(errors) <= 1


def add_sources(rt: Runtime, n: int) -> list[int]:
    now = utcnow()
    with transaction(rt.sessions) as s:
        rows = [Source(partner_id="wire", kind="feed", locator=f"https://wire.example/{i}.rss", interval=60,
                       next_poll_at=now - timedelta(seconds=1), created_at=now) for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def test_concurrent_claimers_never_get_the_same_source(rt: Runtime) -> None:
    ids = set(add_sources(rt, 60))
    with transaction(rt.sessions) as s:  # the configured source is due too
        ids |= {src.id for src in s.scalars(select(Source))}
    claimed: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def claimer() -> None:
        try:
            barrier.wait()
            while True:
                got = claim_due(rt.sessions, utcnow(), lease_seconds=300, limit=3)
                if not got:
                    return
                with lock:
                    claimed.extend(sid for sid, _ in got)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    dupes = [sid for sid, n in Counter(claimed).items() if n > 1]
    assert not dupes, f"sources claimed twice: {dupes}"
    assert set(claimed) == ids
    # A live lease is never handed out again; an expired one is.
    assert claim_due(rt.sessions, utcnow(), lease_seconds=300, limit=100) == []
    some = sorted(ids)[:2]
    assert claim_sources(rt.sessions, some, utcnow(), lease_seconds=300) == []
    later = utcnow() + timedelta(seconds=301)
    assert {sid for sid, _ in claim_sources(rt.sessions, some, later, lease_seconds=300)} == set(some)


def test_relay_outbox_marks_channels_dirty_once(rt: Runtime) -> None:
    store(rt, rss(3))
    with transaction(rt.sessions) as s:
        dirty = relay_outbox(s, rt.settings, utcnow())
    assert {"all", "partners/wire"} <= dirty or {"all"} <= dirty
    with transaction(rt.sessions) as s:
        assert relay_outbox(s, rt.settings, utcnow()) == set()
    assert count(rt, Event, Event.relayed_at.is_(None)) == 0
    assert count(rt, Channel, Channel.dirty_since.is_not(None)) >= 1


def test_concurrent_relays_relay_each_event_once(rt: Runtime) -> None:
    store(rt, rss(30))
    results: list[set[str]] = []
    barrier = threading.Barrier(3)

    def relay() -> None:
        barrier.wait()
        with transaction(rt.sessions) as s:
            results.append(relay_outbox(s, rt.settings, utcnow()))

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3
    assert count(rt, Event, Event.relayed_at.is_(None)) == 0
    assert sum(1 for r in results if r) >= 1


def test_dead_letters_record_list_replay(rt: Runtime) -> None:
    from syndication.runtime.dispatch import LocalDispatcher

    with rt.sessions() as s:
        source_id = s.scalar(select(Source.id))
    dl = deadletters.record(rt.sessions, task=tasks.TASK_POLL, args=[source_id, "tok"],
                            error=RuntimeError("boom"), attempts=6)
    listed = deadletters.list_dead_letters(rt.sessions)
    assert [d.id for d in listed] == [dl] and listed[0].attempts == 6 and "RuntimeError: boom" in listed[0].error
    rt.dispatcher = LocalDispatcher(rt, 1)
    with transaction(rt.sessions) as s:
        src = s.get(Source, source_id)
        assert src is not None
        src.etag = '"old"'
    result = replay.replay(rt, dl)
    assert result.task == tasks.TASK_POLL
    assert deadletters.list_dead_letters(rt.sessions) == []
    assert deadletters.get_dead_letter(rt.sessions, dl).replayed_at is not None  # type: ignore[union-attr]
    with pytest.raises(replay.ReplayError, match="already replayed"):
        replay.replay(rt, dl)
    with pytest.raises(replay.ReplayError, match="no dead letter"):
        replay.replay(rt, 999_999)
    assert count(rt, DeadLetter) == 1


# ---------------------------------------------------------------- migrations


def test_migrate_from_empty_to_heads(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        tables = set(inspect(engine).get_table_names())
        assert {"partners", "sources", "items", "events", "dead_letters", "alembic_version"} <= tables
        heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
        with engine.connect() as conn:
            applied = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
        assert applied == heads
        sessions = make_sessionmaker(engine)
        with transaction(sessions) as s:
            s.add(Partner(id="p", name="P", credit="P", created_at=utcnow(), updated_at=utcnow()))
    finally:
        engine.dispose()


def test_migrate_from_previous_revision(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
        with engine.begin() as conn:  # data written under the previous schema survives the upgrade
            conn.execute(text("INSERT INTO partners (id, name, credit, created_at, updated_at) "
                              "VALUES ('old', 'Old', 'Old agency', :t, :t)"), {"t": utcnow()})
        migrate(engine)
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        with engine.connect() as conn:
            applied = {r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))}
            assert conn.execute(text("SELECT name FROM partners WHERE id = 'old'")).scalar_one() == "Old"
        assert applied == heads
    finally:
        engine.dispose()
