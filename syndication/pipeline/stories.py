"""One story, several carriers: link a stored item to the items of other partners that carry the same story.

Runs inside the ingest transaction (store_items). The decision is the pure `dedupe.duplicate_reason`;
this module only finds candidates (same URL, same body hash, or published within the window) and
records the story. The `all` channel then shows each story once (publish/channels.py select_items),
preferring the originating agency's copy (`preferred_carrier`).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from syndication.db.models import Event, Item, Story
from syndication.pipeline.dates import shifted
from syndication.pipeline.dedupe import (
    WINDOW,
    Fingerprint,
    duplicate_reason,
    fingerprint,
    from_signed,
    hamming,
    to_signed,
)
from syndication.pipeline.policy import same_org
from syndication.pipeline.story_index import Candidate, StoryIndex

log = logging.getLogger(__name__)

REASON_RANK = {"url": 0, "body": 1, "title+simhash": 2, "similar-title+simhash": 3, "simhash": 4}
_COLS = (Item.id, Item.partner_id, Item.url, Item.title_key, Item.body_hash, Item.simhash, Item.published_at,
         Item.story_id)
# An event id missing below the newest one seen belongs to a transaction still in flight (PostgreSQL hands
# out ids before commit) or to one rolled back; it is looked for again until it is this old.
GAP_SECONDS = 600.0
MAX_GAPS = 10_000
MAX_INDEXED = 200_000  # default of stories.index_max_items: at most this many items indexed (~0.4 kB each)
TRIM_PARTS = 4  # the needed window moves on by window / TRIM_PARTS before the items behind it are dropped
TRIM_AFTER = WINDOW / TRIM_PARTS  # that, for the default window
# Below 1/FORGET_BELOW_SHARE of its bound the index keeps what it has read, even behind the window (the default
# bound: 20,000 items, ~8 MB): partners' documents span years, see cover().
FORGET_BELOW_SHARE = 10
# Past its bound the index forgets its oldest items down to this share of it (in tenths), so that it does not
# sort its items again for every few new ones.
EVICT_TO_TENTHS = 9


def _candidate(r: Any) -> Candidate:
    return Candidate(r[0], r[1], r[2], r[3] or "", r[4], from_signed(r[5]), r[6], r[7])


def _fingerprint_of(cand: Candidate) -> Fingerprint:
    return Fingerprint(cand.url, cand.title_key, cand.body_hash, cand.simhash, cand.published, 0)


@dataclass
class _Shared:
    """This process's index of one database's fingerprints over the time range [lo, hi], kept current
    from the outbox: every committed item change writes an event, so the items of events newer than
    `watermark` (and of ids still missing below it) are re-read at the start of each storing transaction.
    Replaces reading the whole window in every transaction, which made ingest O(window) per document."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # This process's own committed item changes, by event id: what re-reading their items would find (the
    # storing transaction had it at hand), so `sync` skips reading back what this process just wrote.
    preread: dict[int, Candidate] = field(default_factory=dict)
    index: StoryIndex = field(default_factory=StoryIndex)
    lo: datetime | None = None
    hi: datetime | None = None
    watermark: int = 0
    gaps: dict[int, float] = field(default_factory=dict)
    window: timedelta = WINDOW
    max_items: int = MAX_INDEXED
    forget_above: int = -1  # default: max_items // FORGET_BELOW_SHARE
    # Set when the size bound made the index forget items of the window it needs ([hardening] 10): nothing
    # published before it is read back (it would only be forgotten again), so near duplicates of those items are
    # not found (same URL or body still are: looked up in the database). Cleared once time has moved past it.
    floor: datetime | None = None

    def __post_init__(self) -> None:
        if self.forget_above < 0:
            self.forget_above = self.max_items // FORGET_BELOW_SHARE

    def reset(self) -> None:
        self.index = StoryIndex()
        self.lo = self.hi = self.floor = None
        self.watermark = 0
        self.gaps.clear()

    def sync(self, session: Session) -> None:
        newest = session.scalar(select(func.max(Event.id))) or 0
        if self.lo is None or newest < self.watermark:  # first use, or the outbox was emptied/restarted
            self.reset()
            self.watermark = newest
            return
        if newest == self.watermark and not self.gaps:
            return
        cond: ColumnElement[bool] = Event.id > self.watermark
        if self.gaps:
            cond = or_(cond, Event.id.in_(sorted(self.gaps)))
        seen: set[int] = set()
        item_ids: set[int] = set()
        known: dict[int, Candidate] = {}
        for event_id, item_id in session.execute(select(Event.id, Event.item_id).where(cond)):
            seen.add(event_id)
            cand = self.preread.pop(event_id, None)
            if cand is not None and cand.id == item_id:
                known[item_id] = cand
            elif item_id is not None:
                item_ids.add(item_id)
        top = max(seen | {self.watermark})
        clock = time.monotonic()
        for event_id in seen:
            self.gaps.pop(event_id, None)
        for event_id in range(self.watermark + 1, top):
            if event_id not in seen:
                self.gaps.setdefault(event_id, clock)
        stale = [e for e, t in self.gaps.items() if clock - t > GAP_SECONDS]
        stale += sorted(self.gaps)[: max(0, len(self.gaps) - len(stale) - MAX_GAPS)]
        for event_id in stale:
            self.gaps.pop(event_id, None)
        self.watermark = top
        for event_id in [e for e in self.preread if e <= top]:  # never to be read (pruned, or read before)
            del self.preread[event_id]
        for item_id, cand in known.items():
            if item_id in item_ids:  # another process changed it too: read back below
                continue
            if self._covers(cand.published):
                self.index.add(cand)
            else:
                self.index.remove(item_id)
        ids = sorted(item_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found: set[int] = set()
            for r in session.execute(select(*_COLS).where(Item.id.in_(chunk))):
                found.add(r[0])
                cand = _candidate(r)
                if r[3] is not None and self._covers(cand.published):
                    self.index.add(cand)
                else:
                    self.index.remove(cand.id)
            for gone in set(chunk) - found:
                self.index.remove(gone)

    def _covers(self, moment: datetime) -> bool:
        return self.lo is not None and self.hi is not None and self.lo <= moment <= self.hi

    def cover(self, session: Session, lo: datetime, hi: datetime) -> None:
        """Make sure every item published in [lo, hi] is indexed (from the floor on, if the size bound set one),
        reading only the part not yet read; then keep the index within its bound."""
        if self.floor is not None:
            lo = max(lo, self.floor)
            if lo > hi:
                return
        if self.lo is None or self.hi is None:
            self.lo, self.hi = lo, hi
            self._load(session, lo, hi)
            self._bound()
            return
        if lo < self.lo:
            self.lo, upto = lo, self.lo
            self._load(session, lo, upto)
        elif lo - self.lo > self.window / TRIM_PARTS and len(self.index) > self.forget_above:
            # Time moved on: forget what no new item can be near ([hardening] 10: bounded by time, about 5/4 of
            # the window behind the newest items, once the index is large enough to matter). Not below that size:
            # partners' documents span years (real feeds mix 2008 and today), and forgetting on every document
            # that starts later made the next one that starts earlier read the same years back (13 % of an
            # ingest of real feeds went to these reloads).
            self.lo = lo
            self.index.remove_published_before(lo)
            if self.floor is not None and self.floor < lo:
                self.floor = None  # the window needed is whole again
        if hi > self.hi:
            self.hi, since = hi, self.hi
            self._load(session, since, hi)
        self._bound()

    def _bound(self) -> None:
        """[hardening] 10: at most `max_items` indexed, the oldest forgotten first (down to 9/10 of the bound)."""
        if len(self.index) <= self.max_items:
            return
        cut = self.index.newest_from(self.max_items * EVICT_TO_TENTHS // 10)
        if cut is None:
            return
        self._forget_before(cut)

    def _forget_before(self, cut: datetime) -> None:
        if self.floor is None:  # said once per episode: near duplicates of older items go unfound
            log.warning("story index at its bound (stories.index_max_items = %d): items published before %s are "
                        "forgotten, their near duplicates not found", self.max_items, cut.isoformat())
        self.index.remove_published_before(cut)
        self.floor = cut if self.floor is None else max(self.floor, cut)
        if self.lo is not None and self.lo < cut:
            self.lo = cut

    def _load(self, session: Session, lo: datetime, hi: datetime) -> None:
        """Index the items published in [lo, hi], newest first and at most `max_items` of them (a process starting
        on a busy store must not read it all to forget most of it): if the bound cut the read short, the index
        forgets what is older, and the rest of the last publication time read."""
        query = (select(*_COLS).where(Item.title_key.is_not(None), Item.published_at.between(lo, hi))
                 .order_by(Item.published_at.desc()).limit(self.max_items))
        read, last = 0, None
        for r in session.execute(query):
            read, last = read + 1, r[6]
            if r[0] not in self.index:
                self.index.add(_candidate(r))
        if read == self.max_items and last is not None:
            self._forget_before(last + timedelta(microseconds=1))


_SHARED: weakref.WeakKeyDictionary[Engine, _Shared] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


def _shared(session: Session) -> _Shared:
    """This process's index of the session's database, with the story window and bound of the sessions' settings
    (`stories.*`, put in `Session.info` by runtime.context.open_runtime; else the defaults)."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    window = session.info.get("story_window")
    max_items = session.info.get("story_index_max_items")
    with _SHARED_LOCK:
        shared = _SHARED.get(engine)
        # A session made without the runtime's settings (a tool, a test's own sessionmaker) uses the index as it
        # is: replacing it would reload the whole window and orphan what other threads hold of it.
        if shared is not None and (window is None or window == shared.window) and (
                max_items is None or max_items == shared.max_items):
            return shared
        shared = _SHARED[engine] = _Shared(window=window or WINDOW, max_items=max_items or MAX_INDEXED)
        return shared


@dataclass
class _Tx:
    """One storing transaction's view: its own items (an overlay the other transactions must not see
    before commit), the fingerprints computed up front, and the document's exact-match candidates."""

    tx: Any
    overlay: StoryIndex = field(default_factory=StoryIndex)
    overlay_partners: set[str] = field(default_factory=set)
    fingerprints: dict[int, Fingerprint] = field(default_factory=dict)
    exact: dict[str, list[Candidate]] | None = None
    synced: bool = False
    mine: dict[int, Candidate] = field(default_factory=dict)  # this transaction's matched rows, by item id
    events: list[tuple[int, int]] = field(default_factory=list)  # (event id, item id) it wrote (note_events)


def _tx_state(session: Session) -> _Tx:
    tx = session.get_transaction()
    state = session.info.get("story_tx")
    if state is None or state.tx is not tx:
        state = session.info["story_tx"] = _Tx(tx)
    return state


def sync_index(session: Session) -> None:
    """Bring this process's index up to date with what others committed. Called by store_items before it
    writes anything: the transaction's own events must not move the watermark (if it rolls back, SQLite
    hands the same ids to the next writer's events, which would then never be read)."""
    state = _tx_state(session)
    if not state.synced:
        shared = _shared(session)
        with shared.lock:
            shared.sync(session)
        state.synced = True


def note_events(session: Session, pairs: Sequence[tuple[int, int]]) -> None:
    """The (event id, item id) pairs this transaction wrote: once it commits, the items this transaction
    matched are handed to this process's index as they stand, and `sync` does not read them back."""
    _tx_state(session).events.extend(pairs)


def _after_commit(session: Session) -> None:
    # What commit() raises is taken for a failed transaction, and this one has committed: the hand-over is only
    # a saving (sync reads the items back otherwise), so a failure here is logged, never raised.
    try:
        _hand_over(session)
    except Exception:
        log.exception("handing a committed transaction's items to the story index failed; sync reads them back")


def _hand_over(session: Session) -> None:
    state = session.info.get("story_tx")
    if state is None or not state.events:
        return
    found = {event_id: state.mine[item_id] for event_id, item_id in state.events if item_id in state.mine}
    state.events = []
    if found:
        shared = _shared(session)
        with shared.lock:
            if shared.lo is not None:  # an index in use (a fresh one starts past these events anyway)
                shared.preread.update(found)


# Every Session: storing's transactions are ordinary sessions (db.session.transaction).
event.listen(Session, "after_commit", _after_commit)


def _ensure_covered(session: Session, lo: datetime, hi: datetime) -> _Shared:
    sync_index(session)
    shared = _shared(session)
    with shared.lock:
        shared.cover(session, lo, hi)
    return shared


def fingerprint_row(row: Item) -> Fingerprint:
    return _set_fingerprint(row, fingerprint(row.url, row.title, row.content_html, row.published_at))


def _set_fingerprint(row: Item, fp: Fingerprint) -> Fingerprint:
    # Assigned only when different: a new row inserted with its fingerprint needs no UPDATE.
    signed = to_signed(fp.simhash)
    if (row.simhash, row.body_hash, row.title_key) != (signed, fp.body_hash, fp.title_key):
        row.simhash, row.body_hash, row.title_key = signed, fp.body_hash, fp.title_key
    return fp


def prepare_window(session: Session, rows: Sequence[Item], known: Mapping[int, Fingerprint] | None = None) -> None:
    """Fingerprint a whole document's items and read everything their story matching needs in a few
    queries: the index brought up to date (outbox since last time, time range if not yet read) and the
    same-URL / same-body candidates (IN lists)."""
    if not rows:
        return
    state = _tx_state(session)
    for row in rows:
        if row.id is not None:
            fp = (known or {}).get(row.id)
            state.fingerprints[row.id] = fingerprint_row(row) if fp is None else _set_fingerprint(row, fp)
    published = [row.published_at for row in rows]
    window = _shared(session).window
    _ensure_covered(session, shifted(min(published), -window), shifted(max(published), window))
    urls = sorted({row.url for row in rows if row.url})
    bodies = sorted({row.body_hash for row in rows if row.body_hash})
    exact: dict[str, list[Candidate]] = {}
    for column, values in ((Item.url, urls), (Item.body_hash, bodies)):
        for start in range(0, len(values), 500):
            query = select(*_COLS).where(Item.title_key.is_not(None), column.in_(values[start : start + 500]))
            for r in session.execute(query):
                cand = _candidate(r)
                for key in (cand.url, cand.body_hash):
                    if key and all(c.id != cand.id for c in exact.get(key, ())):
                        exact.setdefault(key, []).append(cand)
    state.exact = exact


def assign_story(session: Session, row: Item, now: datetime) -> int | None:
    """Fingerprint `row` and join it to the story of the best-matching item of another partner.

    Candidates: other partners' items the index finds near (published within the window), plus any
    item with the same URL or body hash whenever it was published (indexed database lookups). The
    candidates' current columns are re-read before deciding, so an index entry that another process
    has since changed or deleted can only cost a lookup, never a wrong story."""
    state = _tx_state(session)
    fp = state.fingerprints.pop(row.id, None) if row.id is not None else None
    if fp is None:
        fp = fingerprint_row(row)
    window = _shared(session).window
    lo, hi = shifted(row.published_at, -window), shifted(row.published_at, window)
    shared = _ensure_covered(session, lo, hi)
    partner_id, row_id = row.partner_id, row.id
    found: set[int] = set()
    with shared.lock:
        near = list(shared.index.near(fp.title_key, fp.simhash))
    if state.overlay_partners - {partner_id}:  # only other partners' items can be candidates
        near += state.overlay.near(fp.title_key, fp.simhash)
    for hit in near:
        if hit.partner_id != partner_id and hit.id != row_id and lo <= hit.published <= hi:
            found.add(hit.id)
    if state.exact is not None:
        for key in (row.url, fp.body_hash):
            for cand in state.exact.get(key or "", ()):
                if cand.partner_id != partner_id and cand.id != row_id:
                    found.add(cand.id)
    else:
        exact: list[ColumnElement[bool]] = []
        if row.url:
            exact.append(Item.url == row.url)
        if fp.body_hash:
            exact.append(Item.body_hash == fp.body_hash)
        if exact:
            query = select(Item.id).where(Item.partner_id != partner_id, Item.title_key.is_not(None), or_(*exact))
            found.update(i for i in session.scalars(query) if i != row_id)
    best: tuple[tuple[int, int, int], Candidate] | None = None
    if found:
        fresh = [_candidate(r) for r in session.execute(
            select(*_COLS).where(Item.id.in_(sorted(found)), Item.title_key.is_not(None)))]
        for cand in sorted(fresh, key=lambda c: (c.published, c.id)):
            if cand.partner_id == partner_id:
                continue
            reason = duplicate_reason(fp, _fingerprint_of(cand), window)
            if reason is None:
                continue
            distance = hamming(fp.simhash, cand.simhash) if fp.simhash is not None and cand.simhash is not None else 64
            rank = (REASON_RANK[reason], 0 if cand.story_id else 1, distance)
            if best is None or rank < best[0]:
                best = (rank, cand)
    mine = (Candidate(row.id, row.partner_id, row.url, fp.title_key, fp.body_hash, fp.simhash, row.published_at,
                      None) if row.id is not None else None)
    if mine is not None:
        # A candidate for the rest of this transaction's items; other transactions see it through the
        # outbox once this one commits.
        state.overlay.add(mine)
        state.overlay_partners.add(mine.partner_id)
        state.mine[mine.id] = mine
    if best is None:
        # A changed item that no longer matches anything leaves its story.
        row.story_id = None
        return None
    cand = best[1]
    cand_item = session.get(Item, cand.id)
    assert cand_item is not None
    story_id = cand.story_id
    if story_id is None and session.get_bind().dialect.name != "sqlite":
        # PostgreSQL, read committed: another storing transaction may be making this candidate a story of its own,
        # unseen until it commits; both would open a story and the later write would take the candidate, one event
        # in two stories. Its row lock waits for that transaction, then this reads the story it committed. (On
        # SQLite a storing transaction holds the write lock from BEGIN IMMEDIATE: the read above is already current.)
        story_id = session.scalar(select(Item.story_id).where(Item.id == cand.id).with_for_update())
    if story_id is None:
        story = Story(title=cand_item.title, original_agency=None, created_at=now, updated_at=now)
        session.add(story)
        session.flush()
        story_id = story.id
        cand_item.story_id = story_id
    row.story_id = story_id
    if mine is not None:
        mine.story_id = story_id
    story_row = session.get(Story, story_id)
    if story_row is not None:
        agency = _agency(row) or _agency(cand_item)
        if agency and not story_row.original_agency:
            story_row.original_agency = agency
        story_row.updated_at = now
    return story_id


def _agency(row: Item) -> str | None:
    a = row.attribution or {}
    value = a.get("original_agency")
    return str(value) if value else None


def preferred_carrier(
    members: Sequence[Item], original_agency: str | None, credits: dict[str, str]
) -> Item:
    """The copy the `all` channel shows: the originating agency's own copy when it is among the carriers
    (its partner credit or name matches the story's original agency, or it names no other agency);
    otherwise the earliest published copy."""

    def originator(m: Item) -> bool:
        credit = credits.get(m.partner_id, m.partner_id)
        if original_agency:
            return same_org(credit, original_agency) or same_org(m.partner_id, original_agency)
        own = _agency(m)
        return own is None or same_org(own, credit)

    return min(members, key=lambda m: (0 if originator(m) else 1, m.published_at, m.id))


def carrier_entry(row: Item, credit: str, name: str, uid: str) -> dict[str, Any]:
    return {"partner_id": row.partner_id, "partner_name": name, "credit": credit, "url": row.url, "id": uid}
