"""One event, one story: near-duplicate copies of one story from several partners end in a single story whatever
the order they arrive in and however they are stored — in one transaction, in separate transactions of one
process, or by two processes sharing the database (each with its own story index) — and a fresh process reading
the store puts a further copy in that same story.

The suspicion checked here: when an item matches a candidate that has no story yet, both get a new story, but the
candidate's entry in the index keeps no story; a third copy matching the candidate could then open a second story.
The copies below match each other for different reasons (title+simhash, similar-title+simhash, simhash), so the
best candidate of a later copy is not always the first one stored."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from itertools import permutations
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from syndication.db.models import Item, Partner, Story
from syndication.db.session import transaction
from syndication.intake.parse import parse_document
from syndication.pipeline.dedupe import duplicate_reason, fingerprint
from syndication.pipeline.ingest import store_items
from syndication.pipeline.normalise import normalise_feed
from syndication.runtime.context import Runtime
from syndication.runtime.jobs import policy_of
from tests.integration.test_normalise_store import NOW, jitem, jsonfeed, partner

PARTNERS = [partner(pid, pid.title()) for pid in ("turan", "commonspace", "caspian-wire", "trend", "apa")]
# Pairwise reasons (checked in test_the_copies_match_pairwise_for_different_reasons): turan~trend similar
# titles, commonspace~caspian-wire same title, the rest body SimHash only.
COPIES = {
    "turan": ("Caspian ferry deal signed in Baku", None),
    "commonspace": ("Ministers back Caspian ferry route plan", ("7", "y7")),
    "caspian-wire": ("Ministers back Caspian ferry route plan", ("50", "y50")),
    "trend": ("Caspian ferry deal signed in Baku today", ("30", "y30")),
}
LATE = ("apa", "Caspian ferry deal is signed in Baku", ("64", "y64"))


def _copy(event: int, pid: str, title: str, change: tuple[str, str] | None) -> dict[str, Any]:
    """Partner `pid`'s copy of event number `event`: events are a fortnight apart (beyond the story window) and
    use words of their own, so several can share one database without meeting."""
    words = [f"e{event}w{i}" for i in range(600)]
    if change is not None:
        words[int(change[0])] = f"e{event}w{change[1]}"
    doc = jitem(f"{pid}-{event}", title=title, body=f"<p>{' '.join(words)}</p>")
    doc["url"] = f"https://{pid}.example/{event}"
    doc["date_published"] = (NOW - timedelta(days=14 * event, hours=3)).isoformat()
    return doc


def _store(session: Session, rt: Runtime, pid: str, doc: dict[str, Any]) -> None:
    """One partner document through parse -> normalise -> store, in the caller's transaction."""
    parsed = parse_document(json.dumps(jsonfeed(doc)).encode(), {}, f"https://{pid}.example/feed")
    row = session.get(Partner, pid)
    assert row is not None
    items, rejections = normalise_feed(parsed, policy_of(row, rt.settings), now=NOW)
    store_items(session, items, rejections, now=NOW, source_id=None)


def _stories(rt: Runtime, event: int) -> dict[str, int | None]:
    with rt.sessions() as session:
        rows = session.execute(select(Item.partner_id, Item.story_id).where(Item.guid.like(f"%-{event}")))
        return {pid: story for pid, story in rows}


def _assert_one_story(rt: Runtime, fresh: Runtime, event: int, carriers: list[str]) -> None:
    """All carriers in one story, the story holding no one else; a fresh process (an index of its own, built from
    the store) puts a late copy in that same story."""
    stories = _stories(rt, event)
    assert sorted(stories) == sorted(carriers)
    assert len(set(stories.values())) == 1 and None not in stories.values(), (event, carriers, stories)
    story_id = next(iter(stories.values()))
    pid, title, change = LATE
    with transaction(fresh.sessions) as session:
        _store(session, fresh, pid, _copy(event, pid, title, change))
        assert session.scalar(select(Story.id).where(Story.id == story_id)) == story_id
    after = _stories(fresh, event)
    assert after == {**stories, pid: story_id}, (event, carriers, after)


ORDERS = list(permutations(COPIES))  # every order of the four partners' copies


def test_the_copies_match_pairwise_for_different_reasons() -> None:
    def fp(event: int, pid: str, title: str, change: tuple[str, str] | None) -> Any:
        doc = _copy(event, pid, title, change)
        return fingerprint(doc["url"], title, doc["content_html"], NOW)

    for event in range(1, len(ORDERS) + 1):  # every event the tests below store
        prints = {pid: fp(event, pid, *copy) for pid, copy in COPIES.items()} | {LATE[0]: fp(event, *LATE)}
        reasons = {(a, b): duplicate_reason(prints[a], prints[b]) for a in prints for b in prints if a < b}
        assert None not in reasons.values(), (event, reasons)
        assert {"title+simhash", "similar-title+simhash", "simhash"} <= set(reasons.values()), (event, reasons)


@pytest.mark.parametrize("carriers", [3, 4])
def test_copies_in_one_transaction_are_one_story(make_runtime: Callable[..., Runtime], database_url: str,
                                                 carriers: int) -> None:
    """(a) Every order of the copies, each partner's document stored in turn in one transaction."""
    rt = make_runtime(database_url=database_url, partners=PARTNERS)
    fresh = make_runtime(database_url=database_url, partners=PARTNERS)
    orders = sorted({order[:carriers] for order in ORDERS})
    for event, order in enumerate(orders, start=1):
        with transaction(rt.sessions) as session:
            for pid in order:
                _store(session, rt, pid, _copy(event, pid, *COPIES[pid]))
    for event, order in enumerate(orders, start=1):
        _assert_one_story(rt, fresh, event, list(order))


@pytest.mark.parametrize("carriers", [3, 4])
def test_copies_in_separate_transactions_are_one_story(make_runtime: Callable[..., Runtime], database_url: str,
                                                       carriers: int) -> None:
    """(b) Every order, one transaction per copy in one process (its index kept current from the outbox)."""
    rt = make_runtime(database_url=database_url, partners=PARTNERS)
    fresh = make_runtime(database_url=database_url, partners=PARTNERS)
    orders = sorted({order[:carriers] for order in ORDERS})
    for event, order in enumerate(orders, start=1):
        for pid in order:
            with transaction(rt.sessions) as session:
                _store(session, rt, pid, _copy(event, pid, *COPIES[pid]))
    for event, order in enumerate(orders, start=1):
        _assert_one_story(rt, fresh, event, list(order))


@pytest.mark.parametrize("carriers", [3, 4])
def test_copies_stored_by_two_processes_are_one_story(make_runtime: Callable[..., Runtime], database_url: str,
                                                      carriers: int) -> None:
    """(c) Every order, the copies stored in turn by two processes sharing the database (two engines, two indexes);
    the events interleaved, so each process's index has to catch up on the other's copies from the outbox."""
    one = make_runtime(database_url=database_url, partners=PARTNERS)
    two = make_runtime(database_url=database_url, partners=PARTNERS)
    fresh = make_runtime(database_url=database_url, partners=PARTNERS)
    orders = sorted({order[:carriers] for order in ORDERS})
    for step in range(carriers):
        for event, order in enumerate(orders, start=1):
            rt = (one, two)[(step + event) % 2]
            with transaction(rt.sessions) as session:
                _store(session, rt, order[step], _copy(event, order[step], *COPIES[order[step]]))
    for event, order in enumerate(orders, start=1):
        _assert_one_story(one, fresh, event, list(order))


def _waiting_for_a_lock(rt: Runtime) -> bool:
    with rt.sessions() as session:
        return bool(session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")))


@pytest.fixture
def pg_runtimes(make_runtime: Callable[..., Runtime], postgres_url: str) -> tuple[Runtime, Runtime, Runtime]:
    """Two storing processes and a fresh one, on one PostgreSQL database."""
    def process() -> Runtime:
        return make_runtime(database_url=postgres_url, partners=PARTNERS)

    return process(), process(), process()


@pytest.mark.parametrize("order", [o[:3] for o in ORDERS if o[3] == "trend"])
def test_overlapping_transactions_of_two_processes_are_one_story(
        pg_runtimes: tuple[Runtime, Runtime, Runtime], order: tuple[str, str, str]) -> None:
    """(c) on PostgreSQL, where two workers' storing transactions really overlap: the first copy is stored; the
    second and third are stored by two processes at once, the second's transaction still open while the third's
    runs (and, if it must wait for the second's row locks, waits). Still one story."""
    one, two, fresh = pg_runtimes
    first, second, third = order
    with transaction(one.sessions) as session:
        _store(session, one, first, _copy(1, first, *COPIES[first]))
    failures: list[BaseException] = []

    def store_third() -> None:
        try:
            with transaction(two.sessions) as session:
                _store(session, two, third, _copy(1, third, *COPIES[third]))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)

    with transaction(one.sessions) as session:
        _store(session, one, second, _copy(1, second, *COPIES[second]))
        session.flush()
        worker = threading.Thread(target=store_third)
        worker.start()
        # Commit once the other transaction has finished or waits on this one's locks (no timing is asserted).
        while worker.is_alive() and not _waiting_for_a_lock(one):
            time.sleep(0.01)
    worker.join()
    assert not failures, failures
    _assert_one_story(one, fresh, 1, list(order))


@pytest.mark.xfail(strict=True, reason="known gap: two copies stored at once by overlapping PostgreSQL transactions, "
                   "with no earlier copy, do not see each other (neither is committed); only serialising story "
                   "matching across workers would group them")
def test_first_two_copies_stored_at_once_are_one_story(pg_runtimes: tuple[Runtime, Runtime, Runtime]) -> None:
    one, two, fresh = pg_runtimes
    first, second = "turan", "commonspace"
    with transaction(one.sessions) as session:
        _store(session, one, first, _copy(1, first, *COPIES[first]))
        with transaction(two.sessions) as other:
            _store(other, two, second, _copy(1, second, *COPIES[second]))
    _assert_one_story(one, fresh, 1, [first, second])
