"""Storing a document's items in bulk (pipeline/ingest.py store_items): new rows inserted with Core and held as
plain records, story matching's changes to them written back, this process's story index fed from what it
stored (pipeline/stories.py note_events). On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from syndication.db.models import Item, ItemVersion, Partner
from syndication.db.session import transaction
from syndication.intake.parse import parse_document
from syndication.pipeline.ingest import store_items
from syndication.pipeline.normalise import normalise_feed
from syndication.runtime.context import Runtime
from syndication.runtime.jobs import policy_of
from tests.integration.test_normalise_store import NOW, PARTNERS, _words, events, ingest, jitem, jsonfeed


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime], database_url: str) -> Runtime:
    """On SQLite and PostgreSQL."""
    return make_runtime(database_url=database_url, partners=PARTNERS)


def normalised(rt: Runtime, partner_id: str, doc: dict[str, Any], now: datetime = NOW) -> list[Any]:
    parsed = parse_document(json.dumps(doc).encode(), {}, f"https://{partner_id}.example/feed")
    with rt.sessions() as session:
        row = session.get(Partner, partner_id)
        assert row is not None
        return normalise_feed(parsed, policy_of(row, rt.settings), now=now)[0]


def test_the_same_key_twice_in_one_batch_is_stored_then_revised(rt: Runtime) -> None:
    """A batch may carry an item and then its new version (the normaliser drops in-document duplicates, other
    callers need not): the second sees the first as stored, and the row that results joins its story."""
    shared = "https://shared.example/summit"
    ingest(rt, "commonspace", jsonfeed({**jitem("c", title="Caspian summit opens in Baku"), "url": shared}))
    first = normalised(rt, "turan", jsonfeed(jitem("a", title="Caspian summit opens in Baku")))
    second = normalised(rt, "turan", jsonfeed({**jitem("a", title="Caspian summit opens in Baku",
                                                       body="<p>BAKU, 24 November – Story a, now with the vote.</p>"),
                                               "url": shared}))
    fresh = normalised(rt, "turan", jsonfeed(jitem("b", title="Unrelated", body="<p>Nothing alike.</p>")))
    with transaction(rt.sessions) as session:
        counts = store_items(session, [*first, *fresh, *second], [], now=NOW, source_id=None)
    assert (counts.new, counts.updated) == (2, 1)
    with rt.sessions() as session:
        rows = {r.guid: r for r in session.scalars(select(Item).where(Item.partner_id == "turan"))}
        a, b = rows["a"], rows["b"]
        assert a.version == 2 and "now with the vote" in a.content_html
        assert [v.version for v in session.scalars(select(ItemVersion).where(ItemVersion.item_id == a.id)
                                                   .order_by(ItemVersion.version))] == [1, 2]
        other = session.scalar(select(Item).where(Item.partner_id == "commonspace"))
        assert other is not None and a.story_id is not None and a.story_id == other.story_id  # by URL
        assert b.story_id is None and b.title_key == "unrelated"
    assert [e.item_id for e in events(rt, "item.updated")] == [a.id]
    assert sorted(e.item_id for e in events(rt, "item.created") if e.partner_id == "turan") == sorted([a.id, b.id])


def test_items_fingerprinted_by_storing_get_their_fingerprint_and_story(rt: Runtime) -> None:
    """An item normalised without its fingerprint (`fingerprinted` False) is fingerprinted while stored: the
    new row's fingerprint columns and story are written as those of an item fingerprinted up front."""
    body = f"<p>{_words('summit')}</p>"
    ingest(rt, "commonspace", jsonfeed(jitem("c", title="Caspian summit opens in Baku", body=body)))
    done = normalised(rt, "turan", jsonfeed(jitem("a", title="Caspian summit opens in Baku", body=body)))
    bare = [dataclasses.replace(i, fingerprinted=False, title_key="", body_hash=None, simhash=None) for i in done]
    with transaction(rt.sessions) as session:
        assert store_items(session, bare, [], now=NOW, source_id=None).new == 1
    with rt.sessions() as session:
        row = session.scalar(select(Item).where(Item.partner_id == "turan"))
        other = session.scalar(select(Item).where(Item.partner_id == "commonspace"))
        assert row is not None and other is not None
        assert (row.title_key, row.body_hash) == (done[0].title_key, done[0].body_hash)
        assert row.simhash is not None and done[0].simhash is not None
        assert row.story_id is not None and row.story_id == other.story_id


def test_this_process_index_takes_what_it_stored_without_reading_it_back(rt: Runtime) -> None:
    """Once a storing transaction commits, the items it matched go into this process's story index as they
    stand: the next document's index update reads no item back (only other processes' changes are read), and
    still finds the near duplicate among them."""
    ingest(rt, "caspian-wire", jsonfeed(jitem("z", title="Unrelated", body=f"<p>{_words('psi')}</p>")))  # index in use
    body = _words("ferry")
    ingest(rt, "turan", jsonfeed(jitem("a", title="Caspian ferry fleet grows", body=f"<p>{body}</p>")))
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(rt.engine, "before_cursor_execute", seen)
    try:
        ingest(rt, "commonspace", jsonfeed(jitem("b", title="Caspian ferry fleet grows",
                                                 body=f"<p>{body} and one more line</p>")))
    finally:
        event.remove(rt.engine, "before_cursor_execute", seen)
    # (The candidates' re-read before deciding also reads by id, among the fingerprinted items.)
    read_back = [s for s in statements if "WHERE items.id IN" in s and "title_key IS NOT NULL" not in s]
    assert read_back == []
    with rt.sessions() as session:
        rows = {r.partner_id: r for r in session.scalars(select(Item))}
    assert rows["turan"].story_id is not None and rows["turan"].story_id == rows["commonspace"].story_id
    assert rows["turan"].url != rows["commonspace"].url  # a near duplicate, found through the index


def test_a_rolled_back_transaction_feeds_nothing_to_the_index(rt: Runtime) -> None:
    """Items of a transaction that rolled back never reach the index (they are not in the database)."""
    ingest(rt, "caspian-wire", jsonfeed(jitem("z", title="Unrelated", body=f"<p>{_words('psi')}</p>")))  # index in use
    body = _words("ferry")
    items = normalised(rt, "turan", jsonfeed(jitem("a", title="Caspian ferry fleet grows", body=f"<p>{body}</p>")))
    with pytest.raises(RuntimeError), transaction(rt.sessions) as session:
        store_items(session, items, [], now=NOW, source_id=None)
        raise RuntimeError("rolled back")
    ingest(rt, "commonspace", jsonfeed(jitem("b", title="Caspian ferry fleet grows", body=f"<p>{body}</p>")))
    with rt.sessions() as session:
        rows = {r.partner_id: r for r in session.scalars(select(Item))}
    assert "turan" not in rows and rows["commonspace"].story_id is None
