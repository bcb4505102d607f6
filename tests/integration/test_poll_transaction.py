"""A poll that stores items takes the write lock once: its items and its record (the source's state, the
poll row, the figures) commit together; when that fails, the two-step path loses nothing and still records."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select

from syndication.db.models import Item, Partner, PartnerPolicyState, Poll, Source
from syndication.db.session import transaction
from syndication.kernel.settings import Settings
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from tests.builders import rss
from tests.conftest import FeedServer


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    return functools.partial(make_settings, database_url=database_url)


@pytest.fixture
def feed_rt(make_runtime: Callable[..., Runtime], feed_server: FeedServer) -> Iterator[tuple[Runtime, int]]:
    url = feed_server.add_feed("/f.rss", rss(3))
    rt = make_runtime(partners=[{"id": "p", "name": "P", "sources": [{"kind": "feed", "url": url}]}])
    with rt.sessions() as s:
        sid = s.scalars(select(Source.id)).one()
    yield rt, sid


def commits_during(rt: Runtime, action: Callable[[], Any]) -> int:
    """Committed transactions of the runtime's sessions (reading sessions end in a rollback, never a commit)."""
    seen: list[object] = []

    def note(session: Any) -> None:
        seen.append(session)

    event.listen(rt.sessions, "after_commit", note)
    try:
        action()
    finally:
        event.remove(rt.sessions, "after_commit", note)
    return len(seen)


def stored(rt: Runtime, sid: int) -> tuple[int, int, dict[str, Any] | None, str | None]:
    with rt.sessions() as s:
        src = s.get(Source, sid)
        assert src is not None
        return (s.scalar(select(func.count()).select_from(Item)) or 0,
                s.scalar(select(func.count()).select_from(Poll).where(Poll.source_id == sid)) or 0,
                src.last_counts, src.lease_token)


def test_a_poll_storing_items_commits_once(feed_rt: tuple[Runtime, int]) -> None:
    rt, sid = feed_rt
    reports: list[jobs.SourceReport | None] = []
    assert commits_during(rt, lambda: reports.append(jobs.poll_source(rt, sid))) == 1
    assert reports[0] is not None and (reports[0].status, reports[0].new) == ("ok", 3)
    items, polls, counts, _ = stored(rt, sid)
    assert (items, polls) == (3, 1) and counts is not None and counts["new"] == 3
    # A poll finding the same items again: still one transaction, all unchanged.
    again: list[jobs.SourceReport | None] = []
    assert commits_during(rt, lambda: again.append(jobs.poll_source(rt, sid))) == 1
    assert again[0] is not None and (again[0].new, again[0].unchanged) == (0, 3)


def test_recording_the_poll_failing_keeps_the_items_and_records_in_steps(
    feed_rt: tuple[Runtime, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, sid = feed_rt
    record = jobs._record_poll
    calls: list[int] = []

    def fails_once(*a: Any, **k: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("the poll's record could not be written")
        record(*a, **k)

    monkeypatch.setattr(jobs, "_record_poll", fails_once)
    report = jobs.poll_source(rt, sid)
    assert report is not None and (report.status, report.new) == ("ok", 3)
    items, polls, counts, lease = stored(rt, sid)
    assert (items, polls, lease) == (3, 1, None) and counts is not None and counts["new"] == 3


def test_storing_failing_in_the_joint_transaction_stores_item_by_item_and_records(
    feed_rt: tuple[Runtime, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, sid = feed_rt
    store = jobs.store_items

    def refuses_batches(session: Any, items: list[Any], *a: Any, **k: Any) -> Any:
        if len(items) > 1:
            raise ValueError("a batch this test refuses")
        return store(session, items, *a, **k)

    monkeypatch.setattr(jobs, "store_items", refuses_batches)
    report = jobs.poll_source(rt, sid)
    assert report is not None and (report.status, report.new) == ("ok", 3)
    items, polls, counts, lease = stored(rt, sid)
    assert (items, polls, lease) == (3, 1, None) and counts is not None and counts["new"] == 3


def test_publish_needed_is_true_exactly_when_a_publish_has_something_to_do(feed_rt: tuple[Runtime, int]) -> None:
    """The `ingest` command skips its publish step (and the publishing stack's imports) when this says no."""
    rt, sid = feed_rt
    assert jobs.publish_needed(rt)  # the partner's terms were never published
    jobs.publish_dirty(rt)
    assert not jobs.publish_needed(rt)
    jobs.poll_source(rt, sid)  # new items: events to relay
    assert jobs.publish_needed(rt)
    jobs.publish_dirty(rt)
    assert not jobs.publish_needed(rt)
    jobs.poll_source(rt, sid)  # the same items again: nothing to publish
    assert not jobs.publish_needed(rt)
    with transaction(rt.sessions) as s:  # the partner's rights terms change: a notice and its channels owed
        partner = s.get(Partner, "p")
        assert partner is not None
        partner.credit = "Another credit line"
    assert jobs.publish_needed(rt)
    jobs.publish_dirty(rt)
    assert not jobs.publish_needed(rt)
    with transaction(rt.sessions) as s:  # a state recorded without its terms (an older writer): its digest decides
        state = s.get(PartnerPolicyState, "p")
        assert state is not None
        state.policy, state.policy_hash = {}, "0" * 64
    assert jobs.publish_needed(rt)
    jobs.publish_dirty(rt)
    assert not jobs.publish_needed(rt)
