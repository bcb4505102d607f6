"""The outbox relay (events -> dirty channels, pending notices) and the channel publisher (dirty channels
-> files, then the notices those files make true)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Channel, ChannelFile, Event, Partner
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.publish import archives, failures, notices
from syndication.publish.archives import PageState
from syndication.publish.channels import channel_specs, partner_infos, select_items
from syndication.publish.feeds import ENTRY_CACHE, RENDERERS, Extras, FeedContext, Paging
from syndication.publish.files import EntryFiles, sha256, write_all
from syndication.publish.marks import mark_dirty
from syndication.publish.ninjs import render_ninjs
from syndication.publish.published import ChannelSpec, PublishedItem, channels_for_partner, file_extension

log = logging.getLogger(__name__)

# ninjs builds on the feed helpers (publish.feeds), so it joins their table here; one table, so a test that
# swaps a renderer in feeds.RENDERERS swaps what the publisher calls.
RENDERERS.setdefault("ninjs", render_ninjs)
FORMATS = ("atom", "rss", "json", "ninjs")
# Where the entries of the files written in this publish round sit (a quarter of the entry cache's bound, set
# with it in publish(), cleared when the round ends): a first import renders each item for its partner's channel,
# and again for `all`'s archive pages after the entry cache evicted it; read back from the partner's file, it is
# not rendered twice.
ENTRY_FILES = EntryFiles(ENTRY_CACHE.max_bytes // 4)
ENTRY_CACHE.reread_from = ENTRY_FILES.read


@dataclass(frozen=True, slots=True)
class ChannelResult:
    channel: str
    format: str
    path: str
    items: int
    changed: bool


# What the relay reads of an event: columns, not ORM rows, and one UPDATE for the batch's relayed_at, not one per
# row at the flush (a first import relays thousands of events, each read once; their ORM objects were most of it).
RELAY_COLUMNS = (Event.id, Event.kind, Event.item_id, Event.partner_id, Event.payload, Event.created_at)


def relay_outbox(session: Session, settings: Settings, now: datetime, limit: int = 5000) -> set[str]:
    """Mark the channels affected by unrelayed events dirty; return their ids."""
    query = select(*RELAY_COLUMNS).where(Event.relayed_at.is_(None)).order_by(Event.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    events = list(session.execute(query))
    if not events:
        return set()
    session.execute(update(Event).where(Event.id.in_([ev.id for ev in events])).values(relayed_at=now)
                    .execution_options(synchronize_session=False))
    specs = channel_specs(settings, list(session.scalars(select(Partner))))
    dirty: set[str] = set()
    for ev in events:
        dirty.update(channels_for_partner(specs, ev.partner_id))
    mark_dirty(session, dirty, now)
    feeds = notices.record_for_events(session, settings, specs, events, now)
    if feeds:
        mark_dirty(session, feeds, now)
    return dirty | feeds


def channel_path(feeds_dir: Path, channel_id: str, fmt: str) -> Path:
    return feeds_dir / f"{channel_id}.{file_extension(fmt)}"


def archive_path(feeds_dir: Path, channel_id: str, page: int, fmt: str) -> Path:
    return feeds_dir / channel_id / "archive" / f"{page}.{file_extension(fmt)}"


PREEMPT_INTERVAL = 0.05  # seconds between looks for changes relayed while a run works


@dataclass(slots=True)
class _ArchiveWork:
    """Archive pages of one channel still to render after every current document of the run."""

    spec: ChannelSpec
    pages: list[tuple[PageState, bool]]  # (page, complete: written for the last time, then frozen)
    numbers: frozenset[int]


class _Run:
    """One publish run: the current documents of the channels first, then archive pages, then notices.

    A channel whose files cannot be written is counted as failing (syndication.publish.failures), keeps its
    mark, and is left alone by dirty runs until its retry is due; the other channels are published.

    Nothing is rendered under the database write lock (SQLite has one writer: pushes, polls and the relay
    would queue behind a render), and each channel's files are written and its mark cleared as soon as
    it is rendered. Between units of work the run looks for channels marked since it read them (a push
    during a long run, e.g. the first one over a large store) and publishes their current documents
    first, so a fresh change waits for one unit, not for the whole run.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, now: datetime) -> None:
        self.sessions, self.settings, self.now = sessions, settings, now
        self.ctx = FeedContext(public_url=settings.public_url, ttl_minutes=settings.publish.ttl,
                               hub_url=settings.websub.hub_url)
        with sessions() as session:
            self.specs = {s.id: s for s in channel_specs(settings, list(session.scalars(select(Partner))))}
            # Once per run, not per channel: it reads every partner and source.
            self.partners = partner_infos(session)
        self.results: list[ChannelResult] = []
        self.archives: deque[_ArchiveWork] = deque()
        self.pending: dict[str, ChannelSpec] = {}
        self.known: dict[str, int | None] = {}  # dirty_seq as last read (run start, or when published)
        self.full = False  # publish_all: also rewrite frozen archive pages whose files were lost
        self.failed: dict[str, str] = {}  # channel id -> error, this run
        self._looked = time.monotonic()

    def dirty(self) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(select(Channel.id, Channel.dirty_seq).where(Channel.dirty_since.is_not(None)))
            return {cid: seq for cid, seq in rows if cid in self.specs}

    def run(self, *, only_dirty: bool) -> list[ChannelResult]:
        marks = self.dirty()
        self.known = dict(marks)
        waiting: set[str] = set()
        if only_dirty:
            with self.sessions() as session:
                waiting = failures.backing_off(session, utcnow())
        self.pending = {sid: s for sid, s in self.specs.items()
                        if not only_dirty or (sid in marks and sid not in waiting)}
        self.full = not only_dirty
        while self.pending:
            self.preempt()
            if self.pending:
                self.current(self.pending.pop(next(iter(self.pending))))
        while self.archives:
            work = self.archives[0]
            page, complete = work.pages.pop(0)
            if not work.pages:
                self.archives.popleft()
            self.archive_page(work, page, complete)
            self.preempt()
        return self.results

    def preempt(self) -> None:
        """Publish the current documents of channels marked since this run read them."""
        if time.monotonic() - self._looked < PREEMPT_INTERVAL:
            return
        self._looked = time.monotonic()
        fresh = [cid for cid, seq in self.dirty().items() if self.known.get(cid) != seq]
        for cid in sorted(fresh, key=list(self.specs).index):
            self.pending.pop(cid, None)
            self.current(self.specs[cid])

    def current(self, spec: ChannelSpec) -> None:
        settings, now = self.settings, self.now
        page_size = settings.publish.archive_page_size or spec.window
        with transaction(self.sessions) as session:
            # What this render includes was relayed before this instant (it is inside our transaction), so
            # it is the channel's published_at: operators compare it with events' relayed_at, and a run
            # serving a change relayed after the run began must not look older than that change.
            read_at = max(now, utcnow())
            # The mark first, then the items: a change relayed after this read moves dirty_seq, so the
            # mark is not cleared below even if these items already include the change.
            seq = session.scalar(select(Channel.dirty_seq).where(Channel.id == spec.id))
            items = select_items(session, spec, self.partners, now)
            pages = archives.assign(session, spec, items, page_size, now)
            stones = archives.tombstones(session, spec, now, settings.publish.tombstone_days,
                                         self.ctx.base + "/items")
        self.known[spec.id] = seq
        extras = Extras(Paging(prev_archive=pages[-1].page if pages else None), stones)
        try:
            docs = [(fmt, channel_path(settings.feeds_dir, spec.id, fmt), *self.render(fmt, spec, items, extras))
                    for fmt in FORMATS]
            changed = write_all([(path, data) for _, path, data, _ in docs])
            results = [ChannelResult(spec.id, fmt, str(path), len(items), written)
                       for (fmt, path, _, _), written in zip(docs, changed, strict=True)]
        except Exception as exc:  # errors are data: counted, shown to operators, retried with backoff
            self.fail(spec.id, exc)
            return
        self.note(docs)
        with transaction(self.sessions) as session:
            files = {f.format: f for f in session.scalars(select(ChannelFile).where(ChannelFile.channel_id == spec.id))}
            for fmt, path, data, _ in docs:
                row = files.get(fmt)
                digest = sha256(data)
                if row is None:
                    session.add(ChannelFile(channel_id=spec.id, format=fmt, path=str(path), sha256=digest,
                                            size=len(data), items=len(items), written_at=now))
                elif row.sha256 != digest:
                    row.sha256, row.size, row.items, row.written_at = digest, len(data), len(items), now
                    row.path = str(path)
            if seq is not None:
                # Only a mark we saw: one set while we rendered stays for the next run.
                session.execute(
                    update(Channel)
                    .where(Channel.id == spec.id, Channel.dirty_seq == seq, Channel.dirty_since.is_not(None))
                    .values(dirty_since=None, published_at=read_at)
                )
            # Written: a failure streak ends, and the files carry every change marked up to `seq` (notices
            # waiting for it may go).
            done = failures.success_values()
            if seq is not None:
                done["published_seq"] = case((Channel.published_seq < seq, seq), else_=Channel.published_seq)
            session.execute(update(Channel).where(Channel.id == spec.id).values(**done))
        self.failed.pop(spec.id, None)
        self.results.extend(results)
        numbers = frozenset(p.page for p in pages)
        todo: list[tuple[PageState, bool]] = []
        for p in pages:
            complete = p.items >= page_size and (p.page + 1) in numbers
            if p.frozen and not (self.full and not all(
                    archive_path(settings.feeds_dir, spec.id, p.page, fmt).exists() for fmt in FORMATS)):
                continue  # frozen pages are never rewritten (unless their files were lost)
            todo.append((p, complete))
        # A channel published again in this run (preempted) replaces its queued pages, in place: the new
        # list has the newest page numbers, and pages written meanwhile are frozen, so not listed again.
        work = _ArchiveWork(spec, todo, numbers)
        at = next((i for i, w in enumerate(self.archives) if w.spec.id == spec.id), None)
        if at is not None:
            del self.archives[at]
            if todo:
                self.archives.insert(at, work)
        elif todo:
            self.archives.append(work)

    def archive_page(self, work: _ArchiveWork, p: PageState, complete: bool) -> None:
        spec, feeds_dir = work.spec, self.settings.feeds_dir
        if spec.id in self.failed:
            return  # its current documents failed in this run: the retry queues its pages again
        with self.sessions() as session:
            page_list = archives.page_items(session, spec, p.page, self.partners, frozen=p.frozen or complete,
                                            now=self.now)
        extras = Extras(Paging(archive_page=p.page, prev_archive=p.page - 1 if p.page > 1 else None,
                               next_archive=p.page + 1 if (p.page + 1) in work.numbers else None))
        try:
            docs = [(fmt, archive_path(feeds_dir, spec.id, p.page, fmt), *self.render(fmt, spec, page_list, extras))
                    for fmt in FORMATS]
            write_all([(path, data) for _, path, data, _ in docs])
        except Exception as exc:  # the page is not frozen, so the channel's retry writes it again
            self.fail(spec.id, exc)
            return
        self.note(docs)
        if complete and not p.frozen:
            # Frozen as soon as written: a channel queued again by a later change (preempt) then skips it.
            with transaction(self.sessions) as session:
                archives.mark_frozen(session, spec.id, [p.page], self.now)

    def render(self, fmt: str, spec: ChannelSpec, items: list[PublishedItem],
               extras: Extras) -> tuple[bytes, list[tuple[Hashable, bytes]]]:
        """A document, and the entries it is made of (for `note`)."""
        with ENTRY_CACHE.recording() as used:
            return RENDERERS[fmt](spec, items, self.ctx, extras, ENTRY_CACHE), used

    @staticmethod
    def note(docs: list[tuple[str, Path, bytes, list[tuple[Hashable, bytes]]]]) -> None:
        """The documents are written: where their entries sit, to read them back for other documents."""
        for _, path, data, used in docs:
            ENTRY_FILES.note(path, data, used)

    def fail(self, channel_id: str, exc: Exception) -> None:
        """Count a failed publish of the channel; it keeps its mark and is retried after a backoff."""
        text = failures.error_text(exc)
        self.failed[channel_id] = text
        p = self.settings.publish
        with transaction(self.sessions) as session:
            health = failures.record_failure(session, channel_id, text, utcnow(), base=p.retry_base, cap=p.retry_cap)
            # Its mark as it is now is not a fresh change for this run (a channel seen without a row had
            # none): the retry waits for its backoff, not for the next look for fresh marks.
            self.known[channel_id] = session.scalar(select(Channel.dirty_seq).where(Channel.id == channel_id))
        # A filesystem fault is the operator's to fix (no traceback needed); anything else is a bug.
        log.error("publishing %s failed (%d in a row, retry at %s): %s", channel_id, health.consecutive_failures,
                  health.next_retry_at.isoformat() if health.next_retry_at else "-", text,
                  exc_info=not isinstance(exc, OSError), extra={"channel": channel_id})


def publish(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, only_dirty: bool
) -> list[ChannelResult]:
    """Regenerate channels (all, or only the dirty ones); write only files whose bytes changed.

    Also: RFC 5005 archive pages; the notices whose channels are now written (released, then their feeds
    written); WebSub pings for channels that changed. Channels that could not be written are recorded as
    failing (syndication.publish.failures) and their notices stay pending.
    """
    with transaction(sessions) as session:
        # A partner's new rights policy is in its channels' entries: they are marked, and the notice waits.
        notices.check_rights_changes(session, settings, now)
    ENTRY_CACHE.max_bytes = settings.cache.entries_mb * 1024 * 1024  # [hardening] 10: the bound is a setting
    ENTRY_FILES.max_bytes = ENTRY_CACHE.max_bytes // 4
    run = _Run(sessions, settings, now)
    try:
        results = run.run(only_dirty=only_dirty)
        notices.release(sessions, settings)
        notices.publish_feeds(sessions, settings, now, only_dirty=only_dirty, between=run.preempt, failed=run.fail)
    finally:
        # The locations serve the round that wrote them (a first import renders each item for its partner's channel,
        # then for `all`'s archive pages): held between rounds they only grow a long-running service's memory
        # (bench soak: ~17 MB more at 4,800 items), and the next round's few new entries are in the entry cache.
        ENTRY_FILES.clear()
    if settings.websub.hub_url:
        from syndication.publish import websub  # lazy: optional: only with a WebSub hub configured (httpx)

        websub.ping_changed(sessions, settings, results, now)
    return results
