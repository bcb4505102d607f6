"""Republishing notices: what we did with a partner's item, as immutable rows, feeds and webhooks.

A notice tells the truth only once the channel files that carry its change are written. So the outbox
relay, in the transaction that consumes an event, records a *pending* notice (`pending_notices`, one per
event: `event_id` is unique and the event is marked relayed in the same commit) together with the dirty
mark (`channels.dirty_seq`) its change gave each channel the notice names. The publisher releases it —
creates the immutable `notices` row and one delivery per subscribed webhook endpoint — once every one of
those channels has been written at or past that mark (`channels.published_seq`). A failed publish leaves
the mark unreached, so the notice stays pending until a retry succeeds. `rights_changed` notices come
from comparing each partner's rights policy with the last one seen, and wait for the partner's channels
the same way.

Embargo: a notice about an item under embargo when its change happened (`under_embargo`) is the
partner's only: never in the public feed, never sent to subscribers. The public feed also hides notices
of items under embargo now (see syndication.publish.channels).

Feeds: <data_dir>/public/notices/<partner_id>.atom|.json (served behind the partner's key or token)
and notices/all.atom|.json (public: corrections and withdrawals only).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, event, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from syndication.db import counters as figures
from syndication.db.models import (
    Channel,
    Delivery,
    Item,
    Notice,
    Partner,
    PartnerPolicyState,
    PendingNotice,
    WebhookEndpoint,
)
from syndication.db.rights import rights_digest, rights_policy
from syndication.db.session import transaction
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.pipeline.policy import license_name
from syndication.publish import feedgen_ext as fx
from syndication.publish.archives import matches
from syndication.publish.channels import ItemIdentity, channel_specs, embargo_passed
from syndication.publish.failures import clear_failures
from syndication.publish.feedgen_ext import SYND, node, rfc3339
from syndication.publish.feeds import (
    ENTRY_CACHE,
    EPOCH,
    FragmentCache,
    fingerprint,
    json_fragment,
    json_with_items,
    splice_xml,
    xml_children,
)
from syndication.publish.files import write_all
from syndication.publish.marks import mark_dirty
from syndication.publish.published import ChannelSpec, item_uid, under_embargo


class ImmutableNoticeError(RuntimeError):
    """Notices are an audit trail: once written they are never changed."""


@event.listens_for(Notice, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: Notice) -> None:
    raise ImmutableNoticeError(f"notice {target.uid} is immutable")


KINDS = ("republished", "updated", "corrected", "withdrawn", "rights_changed")
EVENT_KINDS = {
    "item.created": "republished",
    "item.updated": "updated",
    "item.corrected": "corrected",
    "item.withdrawn": "withdrawn",
    "item.released": "republished",  # [normalise]: an embargoed item's embargo passed
}
ACTIONS = {"republished": "none", "updated": "update", "corrected": "update", "withdrawn": "remove",
           "rights_changed": "update"}
PUBLIC_KINDS = ("corrected", "withdrawn")
PUBLIC_FEED = "all"
NOTICE_CHANNEL_PREFIX = "notices/"


def notices_dir(settings: Settings) -> Path:
    return settings.public_dir / "notices"


def notice_channel(name: str) -> str:
    return NOTICE_CHANNEL_PREFIX + name


def item_url(settings: Settings, item_id: int) -> str:
    return f"{settings.public_url.rstrip('/')}/items/{item_id}"


def partner_endpoint(partner_id: str) -> str:
    return f"partner:{partner_id}"


def subscriber_endpoint(subscriber_id: str) -> str:
    return f"subscriber:{subscriber_id}"


def endpoints_for(
    settings: Settings, partner_id: str, kind: str, *, partner_only: bool = False
) -> list[tuple[str, str]]:
    """(endpoint id, url) of every configured webhook that wants this notice (with `partner_only`, the
    partner's own endpoint only: subscribers are the public)."""
    out = []
    for p in settings.partners:
        if p.id == partner_id and p.webhook_url and p.webhook_secret is not None:
            out.append((partner_endpoint(p.id), p.webhook_url))
    if partner_only:
        return out
    for s in settings.subscribers:
        if kind in s.kinds and (not s.partners or partner_id in s.partners):
            out.append((subscriber_endpoint(s.id), s.webhook_url))
    return out


def endpoint_secret(settings: Settings, endpoint: str) -> str | None:
    kind, _, ident = endpoint.partition(":")
    if kind == "partner":
        for p in settings.partners:
            if p.id == ident and p.webhook_secret is not None:
                return p.webhook_secret.get_secret_value()
    elif kind == "subscriber":
        for s in settings.subscribers:
            if s.id == ident:
                return s.webhook_secret.get_secret_value()
    return None


# What a notice copies of its item: an Item, or a row of NOTICE_COLUMNS.
NoticeItem = ItemIdentity


def _attribution(item: NoticeItem | None, partner: Partner | None) -> dict[str, Any]:
    a = dict(item.attribution or {}) if item is not None else {}
    lic = a.get("license_url") or (partner.license_url if partner else None)
    return {
        "credit": a.get("credit") or (partner.credit if partner else None),
        "license_url": lic,
        "license_name": a.get("license_name") or license_name(lic),
        "usage_terms": a.get("usage_terms") or (partner.usage_terms if partner else None),
        "rights": a.get("rights") or (partner.copyright if partner else None),
    }


# Columns, not ORM rows (even with load_only): a first import releases thousands of notices, each item read once.
NOTICE_COLUMNS = (Item.id, Item.partner_id, Item.key, Item.guid, Item.url, Item.version, Item.title, Item.attribution)


def notice_values(
    settings: Settings, *, kind: str, partner_id: str, now: datetime, item: NoticeItem | None = None,
    version: int | None = None, channels: Sequence[str] = (), reason: str | None = None,
    event_id: int | None = None, partner: Partner | None = None, embargoed: bool = False,
) -> dict[str, Any]:
    """The columns of a new notice (its uid is new each time)."""
    return {
        "uid": f"urn:uuid:{uuid.uuid4()}",
        "event_id": event_id,
        "kind": kind,
        "created_at": now,
        "partner_id": partner_id,
        "item_id": item.id if item else None,
        "partner_item_id": (item.guid or item.key) if item else None,
        "partner_item_url": item.url if item else None,
        "item_uid": item_uid(item.partner_id, item.key) if item else None,
        "item_version": (version or item.version) if item else None,
        "item_url": item_url(settings, item.id) if item else None,
        "title": item.title if item else (partner.name if partner else partner_id),
        "channels": list(channels),
        "attribution": _attribution(item, partner),
        "reason": reason,
        "action": ACTIONS[kind],
        "under_embargo": embargoed,
    }


def add_notice(
    session: Session, settings: Settings, *, kind: str, partner_id: str, now: datetime,
    item: NoticeItem | None = None, version: int | None = None, channels: Sequence[str] = (),
    reason: str | None = None, event_id: int | None = None, partner: Partner | None = None, embargoed: bool = False,
) -> Notice:
    """Create a notice and its pending deliveries in the caller's transaction (the publisher's release)."""
    if partner is None:
        partner = session.get(Partner, partner_id)
    notice = Notice(**notice_values(settings, kind=kind, partner_id=partner_id, now=now, item=item, version=version,
                                    channels=channels, reason=reason, event_id=event_id, partner=partner,
                                    embargoed=embargoed))
    session.add(notice)
    figures.count(session, figures.NOTICES, kind=kind)
    eps = endpoints_for(settings, partner_id, kind, partner_only=embargoed)
    if eps:
        session.flush()  # deliveries need notice.id; without them the notices of a batch insert together
        known = {e.id: e for e in session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.id.in_([e for e, _ in eps])))}
        for endpoint, url in eps:
            row = known.get(endpoint)
            if row is None:
                session.add(WebhookEndpoint(id=endpoint, url=url))
            elif row.url != url:
                # A new URL is a new subscription.
                row.url, row.unsubscribed_at, row.reason = url, None, None
            elif row.unsubscribed_at is not None:
                continue
            session.add(Delivery(
                notice_id=notice.id, endpoint=endpoint, url=url, state="pending", attempts=0,
                next_attempt_at=now, expires_at=now + timedelta(seconds=settings.webhooks.max_age), created_at=now,
            ))
    return notice


class RelayedEvent(Protocol):
    """An Event, or a row of the columns the relay reads (publisher.RELAY_COLUMNS)."""

    @property
    def id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def item_id(self) -> int | None: ...
    @property
    def partner_id(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any] | None: ...
    @property
    def created_at(self) -> datetime: ...


def record_for_events(
    session: Session, settings: Settings, specs: list[ChannelSpec], events: Iterable[RelayedEvent], now: datetime
) -> set[str]:
    """One pending notice per item event (called by the relay, in its transaction, after it marked the
    events' channels: each notice waits for the mark its channels have now).

    Returns the notice feeds to rewrite now: the public one when an item with public notices changed
    (its embargo may hide or show them)."""
    dirty: set[str] = set()
    events = [e for e in events if e.kind in EVENT_KINDS and e.item_id is not None]
    if not events:
        return dirty
    ids = [e.id for e in events]
    done = set(session.scalars(select(Notice.event_id).where(Notice.event_id.in_(ids))))
    done.update(session.scalars(select(PendingNotice.event_id).where(PendingNotice.event_id.in_(ids))))
    # Only what the channels and the notice need, as rows, not ORM objects: a first import relays thousands of items.
    items = {i.id: i for i in session.execute(
        select(Item.id, Item.partner_id, Item.categories, Item.language, Item.embargo_until, Item.change_note)
        .where(Item.id.in_({e.item_id for e in events})))}
    # The channels of an item depend only on these fields: a backlog of thousands of events over
    # hundreds of channels asks each combination once.
    channels_of: dict[tuple[str, tuple[str, ...], str | None], list[str]] = {}
    seqs = current_marks(session, {s.id for s in specs})
    rows: list[dict[str, Any]] = []
    for ev in events:
        item = items.get(ev.item_id or 0)
        if ev.id in done or item is None:
            continue
        kind = EVENT_KINDS[ev.kind]
        payload = ev.payload or {}
        if ev.kind == "item.created" and item.embargo_until is not None:
            continue  # an embargoed item is republished when released (one item.released event follows)
        key = (item.partner_id, tuple(str(c) for c in item.categories or ()), item.language)
        channels = channels_of.get(key)
        if channels is None:
            channels = channels_of[key] = [s.id for s in specs if matches(s, item)]
        rows.append({
            "event_id": ev.id, "kind": kind, "partner_id": ev.partner_id, "item_id": item.id,
            "version": payload.get("version"),
            "reason": payload.get("change_note") or (item.change_note if kind != "republished" else None),
            "under_embargo": under_embargo(item.embargo_until, ev.created_at), "channels": channels,
            "waits": {c: seqs.get(c, 0) for c in channels}, "created_at": now})
    if rows:  # one executemany, not an ORM object per notice
        session.execute(insert(PendingNotice), rows)
    # An item whose embargo passed, or which is under embargo now, may show or hide public notices it had.
    turned = {i.id for i in items.values() if under_embargo(i.embargo_until, now)} | {
        e.item_id for e in events if e.kind == "item.released"}
    if turned and session.scalar(select(Notice.id).where(
            Notice.item_id.in_(turned), Notice.kind.in_(PUBLIC_KINDS), Notice.under_embargo.is_(False)).limit(1)):
        dirty.add(notice_channel(PUBLIC_FEED))
    return dirty


def current_marks(session: Session, channel_ids: set[str]) -> dict[str, int]:
    """The channels' dirty marks as the caller's transaction sees them after marking them: a notice waits
    for the mark its change made; a publisher that read this mark (or a later one) rendered after the
    change was committed."""
    session.flush()
    return {cid: int(seq or 0) for cid, seq in session.execute(
        select(Channel.id, Channel.dirty_seq).where(Channel.id.in_(channel_ids)))}


RELEASE_BATCH = 1000
PENDING_COLUMNS = (PendingNotice.id, PendingNotice.event_id, PendingNotice.kind, PendingNotice.partner_id,
                   PendingNotice.item_id, PendingNotice.version, PendingNotice.reason, PendingNotice.under_embargo,
                   PendingNotice.channels, PendingNotice.waits)


def release(sessions: sessionmaker[Session], settings: Settings) -> int:
    """Turn pending notices whose channels are all written past their marks into notices (and deliveries),
    oldest first, a batch per transaction; mark the notice feeds they appear in. Returns how many."""
    with sessions() as session:
        if session.scalar(select(PendingNotice.id).limit(1)) is None:
            return 0  # the usual case: no write transaction (SQLite has one writer)
    released, after = 0, 0
    while True:
        done, after, more = _release_batch(sessions, settings, after)
        released += done
        if not more:
            return released


def _release_batch(sessions: sessionmaker[Session], settings: Settings, after: int) -> tuple[int, int, bool]:
    with transaction(sessions) as session:
        # Rows of the columns, not ORM objects: a first import releases thousands, each read once then deleted.
        query = (select(*PENDING_COLUMNS).where(PendingNotice.id > after).order_by(PendingNotice.id)
                 .limit(RELEASE_BATCH))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # another publisher releases those
        rows = list(session.execute(query))
        if not rows:
            return 0, after, False
        last, more = rows[-1].id, len(rows) == RELEASE_BATCH
        now = utcnow()
        partners = {p.id: p for p in session.scalars(select(Partner))}
        specs = {s.id for s in channel_specs(settings, list(partners.values()))}
        wanted = {c for p in rows for c in (p.waits or {})}
        published = {cid: seq for cid, seq in session.execute(
            select(Channel.id, Channel.published_seq).where(Channel.id.in_(wanted)))}
        ready = [p for p in rows if all(
            # A channel no longer configured carries nothing: it is not waited for.
            cid not in specs or (published.get(cid) or 0) >= int(seq) for cid, seq in (p.waits or {}).items())]
        if not ready:
            return 0, last, more
        # The columns a notice copies (add_notice), not whole items: a first import releases thousands.
        items = {i.id: i for i in session.execute(select(*NOTICE_COLUMNS).where(
            Item.id.in_({p.item_id for p in ready if p.item_id is not None})))}
        dirty: set[str] = set()
        # Notices no webhook waits for are inserted together (one executemany, not an ORM object each: a first
        # import releases thousands); in order, so their ids (the feeds' order within one instant) are as before.
        plain: list[dict[str, Any]] = []
        for p in ready:
            item = items.get(p.item_id) if p.item_id is not None else None
            if p.item_id is not None and item is None:
                continue  # the item is gone (its partner was deleted): nothing to tell
            fields: dict[str, Any] = {
                "kind": p.kind, "partner_id": p.partner_id, "now": now, "item": item, "version": p.version,
                "channels": list(p.channels or ()), "reason": p.reason, "event_id": p.event_id,
                "partner": partners.get(p.partner_id), "embargoed": p.under_embargo}
            if endpoints_for(settings, p.partner_id, p.kind, partner_only=p.under_embargo):
                _insert_notices(session, plain)
                add_notice(session, settings, **fields)
            else:
                plain.append(notice_values(settings, **fields))
                figures.count(session, figures.NOTICES, kind=p.kind)
            dirty.add(notice_channel(p.partner_id))
            if p.kind in PUBLIC_KINDS and not p.under_embargo:
                dirty.add(notice_channel(PUBLIC_FEED))
        _insert_notices(session, plain)
        session.execute(delete(PendingNotice).where(PendingNotice.id.in_([p.id for p in ready])))
        mark_dirty(session, dirty, now)
        return len(ready), last, more


def _insert_notices(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert (and empty) `rows`, after any notice added before them."""
    if rows:
        session.flush()
        session.execute(insert(Notice), rows)
        rows.clear()


def pending_counts(session: Session, now: datetime) -> dict[str, Any]:
    """How many notices wait for their channels, and how long the oldest has waited (operators)."""
    n, oldest = session.execute(select(func.count(), func.min(PendingNotice.created_at))).one()
    return {"count": int(n), "oldest_seconds": None if oldest is None else round((now - oldest).total_seconds(), 3)}


def check_rights_changes(session: Session, settings: Settings, now: datetime) -> set[str]:
    """Record a pending `rights_changed` notice when a partner's rights policy differs from the last one
    seen, and mark the partner's channels (their entries carry the policy): the notice is released once
    they are written. Returns the channels marked."""
    dirty: set[str] = set()
    states = {s.partner_id: s for s in session.scalars(select(PartnerPolicyState))}
    specs: list[ChannelSpec] | None = None
    for partner in session.scalars(select(Partner).order_by(Partner.id)):
        policy = rights_policy(partner)
        digest = rights_digest(policy)
        state = states.get(partner.id)
        if state is None:
            session.add(PartnerPolicyState(partner_id=partner.id, policy_hash=digest, policy=policy, recorded_at=now))
            continue
        if state.policy_hash == digest:
            continue
        changed = sorted(k for k in policy if policy[k] != (state.policy or {}).get(k))
        if specs is None:
            specs = channel_specs(settings, list(session.scalars(select(Partner))))
        channels = [s.id for s in specs if not s.partners or partner.id in s.partners]
        mark_dirty(session, set(channels), now)
        seqs = current_marks(session, set(channels))
        session.add(PendingNotice(kind="rights_changed", partner_id=partner.id, reason="changed: " + ", ".join(changed),
                                  under_embargo=False, channels=channels, waits={c: seqs.get(c, 0) for c in channels},
                                  created_at=now))
        state.policy_hash, state.policy, state.recorded_at = digest, policy, now
        dirty.update(channels)
    return dirty


# ---------------------------------------------------------------- feeds


def notice_dict(n: Notice) -> dict[str, Any]:
    return {
        "id": n.uid,
        "number": n.id,
        "kind": n.kind,
        "time": rfc3339(n.created_at),
        "partner": n.partner_id,
        "partner_item_id": n.partner_item_id,
        "partner_item_url": n.partner_item_url,
        "item_id": n.item_uid,
        "item_version": n.item_version,
        "item_url": n.item_url,
        "title": n.title,
        "channels": list(n.channels or []),
        "attribution": dict(n.attribution or {}),
        "reason": n.reason,
        "action": n.action,
    }


def _summary(n: Notice) -> str:
    what = {"republished": "We republished", "updated": "We updated our copy of",
            "corrected": "We corrected our copy of", "withdrawn": "We withdrew",
            "rights_changed": "The rights policy changed for"}[n.kind]
    subject = f"“{n.title}”" if n.item_uid else (n.title or n.partner_id)
    text = f"{what} {subject}."
    if n.reason:
        text += f" Reason: {n.reason}."
    text += f" Action for republishers: {n.action}."
    return text


NOTICE_NAMESPACES = {"syn": SYND}


def render_notices_atom(
    name: str, title: str, notices: Sequence[Notice], settings: Settings, cache: FragmentCache | None = None,
    since: datetime = EPOCH,
) -> bytes:
    """The notices feed (feedgen and our extension); with a cache, entries are spliced in from it (same
    bytes: notices never change, and an entry is keyed by a digest of everything it shows).

    `since`: when the feed began (its partner's creation; for the public feed, the first partner's), its
    <updated> while it holds no notice: a time from the data, never the clock, so the bytes stay the same."""
    base = settings.public_url.rstrip("/")
    self_url = f"{base}/notices/{name}.atom"
    fg = fx.new_feed("atom", title=title, updated=max((n.created_at for n in notices), default=since),
                     namespaces=NOTICE_NAMESPACES)
    fg.id(self_url)
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=base + "/", rel="alternate", type="text/html")
    fg.author(name=settings.service_name)
    if cache is None:
        fx.add_entries(fg, map(_notice_entry, notices))
        return fx.atom_bytes(fg)
    return splice_xml(fx.atom_bytes(fg), b"</feed>\n", [
        cache.get(("notice-atom", cache.digest(n, partial(_notice_key, n))), partial(_notice_entry_bytes, n))
        for n in notices])


def _notice_key(n: Notice) -> bytes:
    return fingerprint((n.uid, n.created_at, notice_dict(n)))


def _notice_entry_bytes(n: Notice) -> bytes:
    root = fx.atom_template(NOTICE_NAMESPACES)
    root.append(_notice_entry(n).atom_entry())
    return xml_children(root, b"feed")


def _notice_entry(n: Notice) -> Any:
    d = notice_dict(n)
    fe = fx.new_entry("atom", title=f"{n.kind}: {n.title or n.partner_id}", published=n.created_at,
                      updated=n.created_at)
    fe.id(n.uid)
    fe.category(term=n.kind, scheme=SYND + "#kind")
    fe.category(term=n.action, scheme=SYND + "#action")
    rights = d["attribution"].get("rights")
    if rights:
        fe.rights(str(rights).replace("{year}", str(n.created_at.year)))
    fe.content(_summary(n), type="text")
    links = []
    if n.item_url:
        links.append(fx.Link(n.item_url, "related", "text/html"))
    if n.partner_item_url:
        links.append(fx.Link(n.partner_item_url, "via"))
    lic = d["attribution"].get("license_url")
    if lic:
        links.append(fx.Link(lic, "license"))
    fe.synd.links(links)
    fields = ("kind", "action", "partner", "partner_item_id", "partner_item_url", "item_id", "item_version",
              "item_url", "reason")
    fe.synd.element(node("notice", children=[
        *(node(key.replace("_", "-"), d[key]) for key in fields if d[key] is not None),
        node("channels", children=[node("channel", c) for c in d["channels"]]),
        node("attribution", children=[
            node(key.replace("_", "-"), value) for key, value in d["attribution"].items() if value is not None]),
    ]))
    return fe


def _notice_item(n: Notice) -> dict[str, Any]:
    d = notice_dict(n)
    entry: dict[str, Any] = {"id": n.uid}
    if n.item_url:
        entry["url"] = n.item_url
    if n.partner_item_url:
        entry["external_url"] = n.partner_item_url
    entry.update({"title": f"{n.kind}: {n.title or n.partner_id}", "content_text": _summary(n),
                  "date_published": d["time"], "tags": [n.kind, n.action], "_syndication": d})
    return entry


def render_notices_json(
    name: str, title: str, notices: Sequence[Notice], settings: Settings, cache: FragmentCache | None = None
) -> bytes:
    base = settings.public_url.rstrip("/")
    doc: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": base + "/",
        "feed_url": f"{base}/notices/{name}.json",
        "authors": [{"name": settings.service_name}],
    }
    if cache is None:
        doc["items"] = [_notice_item(n) for n in notices]
        return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return json_with_items(doc, [
        cache.get(("notice-json", cache.digest(n, partial(_notice_key, n))), partial(_notice_json_bytes, n))
        for n in notices])


def _notice_json_bytes(n: Notice) -> bytes:
    return json_fragment(_notice_item(n), 2)


def feed_notices(session: Session, name: str, window: int, now: datetime | None = None) -> list[Notice]:
    query = select(Notice).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(window)
    if name == PUBLIC_FEED:
        # Never a notice made while its item was under embargo, nor one of an item under embargo now.
        query = (query.outerjoin(Item, Item.id == Notice.item_id)
                 .where(Notice.kind.in_(PUBLIC_KINDS), Notice.under_embargo.is_(False))
                 .where(or_(Item.id.is_(None), embargo_passed(now or utcnow()))))
    else:
        query = query.where(Notice.partner_id == name)
    return list(session.scalars(query))


def publish_feeds(
    sessions: sessionmaker[Session], settings: Settings, now: datetime, *, only_dirty: bool,
    between: Callable[[], None] | None = None, failed: Callable[[str, Exception], None] | None = None,
) -> list[Path]:
    """Rewrite the notices feeds that changed; return the files written.

    `between` runs between feeds (the channel publisher serves fresh changes there first); `failed`
    records a feed that could not be written (its mark stays, so it is retried)."""
    with sessions() as session:
        dirty_rows = {
            c.id: c.dirty_seq
            for c in session.scalars(select(Channel).where(Channel.id.like(NOTICE_CHANNEL_PREFIX + "%"),
                                                          Channel.dirty_since.is_not(None)))
        }
        partner_rows = list(session.scalars(select(Partner)))
        partners = {p.id: p.name for p in partner_rows}
        began = {p.id: p.created_at for p in partner_rows}
        began[PUBLIC_FEED] = min(began.values(), default=EPOCH)
    names = {c.removeprefix(NOTICE_CHANNEL_PREFIX) for c in dirty_rows}
    if not only_dirty:
        names |= set(partners) | {PUBLIC_FEED}
    written: list[Path] = []
    done: list[str] = []
    out_dir = notices_dir(settings)
    for name in sorted(names):
        if name != PUBLIC_FEED and name not in partners:
            done.append(notice_channel(name))  # a partner since deleted: its mark goes
            continue
        if between is not None:
            between()
        title = (f"{settings.service_name}: corrections and withdrawals" if name == PUBLIC_FEED
                 else f"{settings.service_name}: republishing notices for {partners[name]}")
        with sessions() as session:
            rows = feed_notices(session, name, settings.notices.window, now)
        try:
            docs = [
                (out_dir / f"{name}.atom", render_notices_atom(name, title, rows, settings, ENTRY_CACHE,
                                                                      since=began[name])),
                (out_dir / f"{name}.json", render_notices_json(name, title, rows, settings, ENTRY_CACHE)),
            ]
            written.extend(path for (path, _), changed in zip(docs, write_all(docs), strict=True) if changed)
        except Exception as exc:  # errors are data: counted and shown to operators, retried with backoff
            if failed is None:
                raise
            failed(notice_channel(name), exc)
            continue
        done.append(notice_channel(name))
    if done:
        with transaction(sessions) as session:
            for cid in done:
                seq = dirty_rows.get(cid)
                if seq is not None:
                    # Only the mark we read: a notice recorded since then keeps its feed dirty.
                    session.execute(update(Channel).where(Channel.id == cid, Channel.dirty_seq == seq)
                                    .values(dirty_since=None, published_at=now))
            clear_failures(session, done)
    return written
