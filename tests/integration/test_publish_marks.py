"""[publish] A change relayed while a publish run renders is never dropped, and reaches its feed quickly.

The failure this guards against: the relay found the channel already dirty and left its mark as it was,
then the publisher (which had read its items before the change) cleared the mark, so the change waited
for the next scheduled refresh. Seen as `python -m bench latency` never serving its first push on a
10,000-item store, where the first publish run takes many seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from syndication.db.models import ArchivePage, Channel, Event, Item
from syndication.kernel.clock import utcnow
from syndication.publish import publisher
from syndication.publish.publisher import publish
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from tests.conftest import FeedServer
from tests.integration.test_publish import jitem, partner, poll, serve


def setup(make_runtime: Callable[..., Runtime], feed_server: FeedServer, items: int = 2,
          **over: Any) -> tuple[Runtime, Callable[[int], None]]:
    url = serve(feed_server, "turan", [jitem(i) for i in range(items)])
    rt = make_runtime(partners=[partner("turan", url)], **over)
    poll(rt, "turan")
    jobs.publish_all(rt)

    def add(n: int) -> None:
        """A real change, stored and relayed in their own transactions (as the push API and tick do)."""
        serve(feed_server, "turan", [jitem(i) for i in range(n)])
        poll(rt, "turan")
        jobs.relay(rt)

    return rt, add


@pytest.fixture
def during_render(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, Callable[[], None]], None]]:
    """Run `action` once, right after the publisher renders the current Atom document of `channel`:
    after it read the channel's mark and items, before it writes and clears the mark."""
    hooks: dict[str, Callable[[], None]] = {}
    original = publisher.RENDERERS["atom"]

    def atom(spec: Any, items: Any, ctx: Any, extras: Any = None, cache: Any = None) -> bytes:
        out = original(spec, items, ctx, extras, cache) if extras is not None else original(spec, items, ctx)
        if extras is not None and extras.paging.archive_page is None and spec.id in hooks:
            hooks.pop(spec.id)()
        return out

    monkeypatch.setitem(publisher.RENDERERS, "atom", atom)
    yield lambda channel, action: hooks.__setitem__(channel, action)


def dirty(rt: Runtime, channel: str) -> bool:
    with rt.sessions() as session:
        row = session.get(Channel, channel)
        return row is not None and row.dirty_since is not None


def served(rt: Runtime, channel: str, title: str) -> bool:
    return title in (rt.settings.feeds_dir / f"{channel}.atom").read_text(encoding="utf-8")


def test_change_relayed_during_render_keeps_its_mark(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                                    during_render: Callable[[str, Callable[[], None]], None],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rt, add = setup(make_runtime, feed_server)
    monkeypatch.setattr(publisher, "PREEMPT_INTERVAL", 3600.0)  # this run must not serve it itself
    add(3)  # Story 2: "all" dirty
    during_render("all", lambda: add(4))  # Story 3 arrives while "all" is being rendered
    publish(rt.sessions, rt.settings, utcnow(), only_dirty=True)
    assert served(rt, "all", "Story 2") and not served(rt, "all", "Story 3")
    assert dirty(rt, "all")  # the mark of Story 3 survived the run that rendered without it
    jobs.publish_dirty(rt)
    assert served(rt, "all", "Story 3") and not dirty(rt, "all")
    assert jobs.publish_dirty(rt) == []


def test_run_serves_a_change_relayed_while_it_works(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                                                   during_render: Callable[[str, Callable[[], None]], None],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rt, add = setup(make_runtime, feed_server)
    monkeypatch.setattr(publisher, "PREEMPT_INTERVAL", 0.0)
    add(3)
    during_render("all", lambda: add(4))
    results = publish(rt.sessions, rt.settings, utcnow(), only_dirty=True)
    # The same run published "all" again, before its other work, instead of leaving Story 3 for later.
    assert [r.channel for r in results if r.format == "atom"].count("all") == 2
    assert served(rt, "all", "Story 3") and served(rt, "partners/turan", "Story 3")
    assert not dirty(rt, "all") and not dirty(rt, "partners/turan")
    with rt.sessions() as session:
        relayed = session.scalar(select(Event.relayed_at).join(Item, Item.id == Event.item_id)
                                 .where(Item.guid == "story-3", Event.kind == "item.created"))
        channel = session.get(Channel, "all")
    # Operators count an item as published once its channel's published_at reaches the event's relay time.
    assert relayed is not None and channel is not None and channel.published_at is not None
    assert channel.published_at >= relayed


def test_archive_pages_are_written_once_when_a_run_is_preempted(
        make_runtime: Callable[..., Runtime], feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, add = setup(make_runtime, feed_server, items=3, publish={"window": 2, "archive_page_size": 2})
    monkeypatch.setattr(publisher, "PREEMPT_INTERVAL", 0.0)
    written: list[tuple[str, int]] = []
    original = publisher._Run.archive_page
    changes = iter(range(12, 16))

    def archive_page(run: Any, work: Any, page: Any, complete: bool) -> None:
        original(run, work, page, complete)
        written.append((work.spec.id, page.page))
        n = next(changes, None)
        if n is not None:
            add(n)  # a change after every page: the run publishes it, then goes on with the pages left

    monkeypatch.setattr(publisher._Run, "archive_page", archive_page)
    add(11)  # Stories 0-10: 9 leave the window of 2, in pages of 2
    publish(rt.sessions, rt.settings, utcnow(), only_dirty=True)
    with rt.sessions() as session:
        pages = {(p.channel_id, p.page): p.frozen_at is not None for p in session.scalars(select(ArchivePage))}
    frozen = [key for key, is_frozen in pages.items() if is_frozen]
    assert frozen and all(written.count(key) == 1 for key in frozen)  # a complete page is rendered once
    assert served(rt, "all", "Story 14") and not dirty(rt, "all")  # the last change, after the last page
    final = {key for key in pages if not pages[key]}
    assert all(key in written for key in pages if key not in final)


def test_marks_are_counted(make_runtime: Callable[..., Runtime], feed_server: FeedServer,
                          database_url: str) -> None:
    url = serve(feed_server, "turan", [jitem(0)])
    rt = make_runtime(database_url=database_url, partners=[partner("turan", url)])
    poll(rt, "turan")
    jobs.relay(rt)
    with rt.sessions() as session:
        first = session.get(Channel, "all")
        assert first is not None and first.dirty_since is not None
        since, seq = first.dirty_since, first.dirty_seq
    serve(feed_server, "turan", [jitem(0), jitem(1)])
    poll(rt, "turan")
    jobs.relay(rt)
    with rt.sessions() as session:
        again = session.get(Channel, "all")
        assert again is not None
        # Still dirty since the first change, but the second mark is visible to a publisher.
        assert again.dirty_since == since and again.dirty_seq == seq + 1
    jobs.publish_dirty(rt)
    assert not dirty(rt, "all") and served(rt, "all", "Story 1")


def test_two_relays_marking_a_new_channel_at_once_both_commit(
    make_runtime: Callable[..., Runtime], postgres_url: str
) -> None:
    """Two relays (two schedulers or workers) give a channel its first mark at the same moment: the second
    waits for the first's row and moves its mark; neither transaction fails. A plain INSERT made the loser
    raise IntegrityError (seen in the two-scheduler fault test)."""
    import threading

    from syndication.db.session import transaction

    rt = make_runtime(database_url=postgres_url)
    now = utcnow()
    first_marked = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        first_marked.wait(10)
        try:
            with transaction(rt.sessions) as s:
                publisher.mark_dirty(s, {"partners/new"}, now)  # blocks on the first's uncommitted row
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with transaction(rt.sessions) as s:
        publisher.mark_dirty(s, {"partners/new"}, now)
        first_marked.set()
        thread.join(0.5)  # the second is now waiting on our row
    thread.join(10)
    assert not errors, errors
    with rt.sessions() as s:
        assert s.scalar(select(Channel.dirty_seq).where(Channel.id == "partners/new")) == 2
