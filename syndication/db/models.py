"""The database is the truth: every accepted item, event and publication is a row here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from syndication.kernel.clock import UTC


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite (naive storage) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    homepage: Mapped[str | None] = mapped_column(String(2000))
    credit: Mapped[str] = mapped_column(String(300))
    license_url: Mapped[str | None] = mapped_column(String(2000))
    usage_terms: Mapped[str | None] = mapped_column(Text)
    copyright: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(35))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Source(Base):
    __tablename__ = "sources"
    __table_args__ = (
        UniqueConstraint("partner_id", "kind", "locator", name="uq_sources_partner_kind_locator"),
        Index("ix_sources_due", "enabled", "next_poll_at"),
        Index("ix_sources_lease_round", "lease_round"),  # 0011_rounds
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The configured URL (feed) or path (folder); "push" for push sources. Part of the identity.
    locator: Mapped[str] = mapped_column(String(2000))
    effective_url: Mapped[str | None] = mapped_column(String(2000))
    interval: Mapped[int] = mapped_column(Integer, default=300)
    consume: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    # Credentials are stored only for fetching; never returned by status or the API.
    credentials: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    etag: Mapped[str | None] = mapped_column(String(1000))
    last_modified: Mapped[str | None] = mapped_column(String(200))
    next_poll_at: Mapped[datetime]
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    # [hardening] the embedded process holding the lease (schedule.Holder), so its successor can reclaim it.
    lease_holder: Mapped[str | None] = mapped_column(String(300))
    # The round of polls this lease was claimed in (syndication/runtime/rounds.py); meaningful while the lease is live.
    lease_round: Mapped[str | None] = mapped_column(String(32))
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    parse_problem: Mapped[str | None] = mapped_column(Text)
    last_counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    # [intake] adaptive poll interval (between `interval`, the configured one, and the source's bound:
    # intake.decide.interval_bound), and the redirect chain of the last fetch ([[status, url], ...]).
    current_interval: Mapped[int | None] = mapped_column(Integer)
    redirects: Mapped[list[Any] | None] = mapped_column(JSON)
    # [newcomer] 0022_source_max_interval: the configured bound (NULL: the default multiple of `interval`), and
    # why the next poll is not `interval` after the last (NULL when it is).
    max_interval: Mapped[int | None] = mapped_column(Integer)
    interval_reason: Mapped[str | None] = mapped_column(Text)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("partner_id", "key", name="uq_items_partner_key"),
        Index("ix_items_sort", "sort_at"),
        Index("ix_items_partner_sort", "partner_id", "sort_at"),
        Index("ix_items_embargo_pending", "embargo_released_at", "embargo_until"),  # [normalise] release scan
        Index("ix_items_source_sort", "source_id", "sort_at"),  # [operators] 0006_operators
        Index("ix_items_first_seen", "first_seen_at"),  # [operators] 0006_operators
        Index("ix_items_published", "published_at"),  # story window (0008_story_indexes)
        Index("ix_items_url", "url"),  # story exact match by canonical URL (0008_story_indexes)
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(128))
    guid: Mapped[str | None] = mapped_column(String(2000))
    url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    categories: Mapped[list[Any]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(35))
    published_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Newest-first ordering key: the partner's publish time, never in the future.
    sort_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="usable")
    change_note: Mapped[str | None] = mapped_column(Text)
    embargo_until: Mapped[datetime | None]
    attribution: Mapped[dict[str, Any]] = mapped_column(JSON)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # [normalise] story de-duplication (revision 0004_normalise)
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)
    simhash: Mapped[int | None] = mapped_column(BigInteger)  # signed form of the 64-bit SimHash
    body_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    title_key: Mapped[str | None] = mapped_column(Text)
    embargo_released_at: Mapped[datetime | None]
    # [trust] when the item was last withdrawn (0013_publish_state): an item withdrawn before its embargo
    # passed was never public, so no public output (tombstone, notice, /items page) ever names it.
    withdrawn_at: Mapped[datetime | None]
    # [real-feeds] the partner's dates set aside by normalisation (pipeline/dates.py), as they wrote them:
    # [{"field", "raw", "reason"}]; NULL when every date was used (0023_raw_dates).
    partner_dates: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class ItemVersion(Base):
    """Every version of an item is kept; the items row holds the current one."""

    __tablename__ = "item_versions"
    __table_args__ = (UniqueConstraint("item_id", "version", name="uq_item_versions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class Event(Base):
    """The outbox: written in the same transaction as the item change it describes."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_pending", "relayed_at", "id"),
        Index("ix_events_item_kind", "item_id", "kind"),  # [operators] 0006_operators
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # item.created | item.updated | item.withdrawn | ...
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    partner_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    relayed_at: Mapped[datetime | None]


class Channel(Base):
    """Publication state of a channel; `dirty_since` set by the relay, cleared by the publisher.

    `dirty_seq` moves on every mark (0009_channel_dirty_seq): the publisher clears a mark only if no
    change was relayed after it read the channel, so nothing relayed during a render is dropped.

    [trust] 0013_publish_state: `published_seq` is the highest mark a successful write included (a notice
    waiting for the mark its change made is released once it is reached); the failure columns are the
    channel's publish health, read by every process (status, /ops, /metrics, /readyz)."""

    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    dirty_since: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    dirty_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    published_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failures_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]
    next_retry_at: Mapped[datetime | None]


class ChannelFile(Base):
    __tablename__ = "channel_files"
    __table_args__ = (UniqueConstraint("channel_id", "format", name="uq_channel_files"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(200))
    format: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2000))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer)
    written_at: Mapped[datetime]


class FolderFile(Base):
    """Files read from a folder source, by content hash, so none is processed twice."""

    __tablename__ = "folder_files"
    __table_args__ = (UniqueConstraint("source_id", "name", name="uq_folder_files"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # processing | done | failed
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime]


class PushKey(Base):
    __tablename__ = "push_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class OpsSession(Base):
    """A browser session of the operator pages (/ops/login). Only a keyed hash of the cookie value is stored,
    so a database dump cannot be replayed as a cookie; logout deletes the row, and rows past expires_at are
    refused (and pruned at the next login)."""

    __tablename__ = "ops_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OpsSample(Base):
    """One figure operators watch over time (the /ops charts), taken by the scheduler every `ops.sample_seconds`
    and kept for OPS_SAMPLE_KEEP (syndication.operations.ops). `taken_at` is the end of the sampled slot, so every
    process sampling the same slot writes the same key (and only the first row is kept); `subject` is the partner id,
    source id or queue name the figure is about ("" for the whole service)."""

    __tablename__ = "ops_samples"

    taken_at: Mapped[datetime] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class Poll(Base):
    """One row per poll attempt: what operators read when a source misbehaves."""

    __tablename__ = "polls"
    __table_args__ = (
        Index("ix_polls_source_time", "source_id", "started_at"),
        Index("ix_polls_started", "started_at"),  # [operators] 0006_operators
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | not_modified | error
    http_status: Mapped[int | None] = mapped_column(Integer)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON)
    error: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    replayed_at: Mapped[datetime | None]


# ---------------------------------------------------------------- [publish] notices, deliveries, WebSub, archives


class Notice(Base):
    """A republishing notice: immutable, created in the relay transaction that consumes its event."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_partner_time", "partner_id", "created_at"),
        Index("ix_notices_kind_time", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(45), unique=True)  # urn:uuid:..., the Atom id
    event_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # republished | updated | corrected | withdrawn | rights_changed
    created_at: Mapped[datetime]
    partner_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(Integer)
    partner_item_id: Mapped[str | None] = mapped_column(String(2000))
    partner_item_url: Mapped[str | None] = mapped_column(String(2000))
    item_uid: Mapped[str | None] = mapped_column(String(100))
    item_version: Mapped[int | None] = mapped_column(Integer)
    item_url: Mapped[str | None] = mapped_column(String(2000))
    title: Mapped[str | None] = mapped_column(Text)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    attribution: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(16))  # none | update | remove
    # [trust] the item was under embargo when this happened: the partner's own notice only (never in the
    # public notices feed, never to subscribers).
    under_embargo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PendingNotice(Base):
    """[trust] A notice waiting for the channel files that carry its change (0013_publish_state).

    The relay records one per item event, with the dirty mark (`channels.dirty_seq`) its change gave each
    channel the notice names; the publisher turns it into a `notices` row (and deliveries) once every one
    of those channels has been written at or past that mark (`channels.published_seq`)."""

    __tablename__ = "pending_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    partner_id: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    under_embargo: Mapped[bool] = mapped_column(Boolean, default=False)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    waits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # channel id -> dirty_seq to reach
    created_at: Mapped[datetime]


class Delivery(Base):
    """One notice to one webhook endpoint: pending -> delivered | retrying -> failed."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("notice_id", "endpoint", name="uq_deliveries_notice_endpoint"),
        Index("ix_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(100))  # "partner:<id>" | "subscriber:<id>"
    url: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16))  # pending | retrying | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """Endpoint state that outlives single deliveries: a 410 unsubscribes it."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # "partner:<id>" | "subscriber:<id>"
    url: Mapped[str] = mapped_column(String(2000))
    unsubscribed_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)


class WebSubPing(Base):
    """One "this topic changed" ping to the hub, delivered like a webhook (0014_deliveries):
    pending -> delivered | retrying -> failed, claimed by lease for each POST."""

    __tablename__ = "websub_pings"
    __table_args__ = (
        Index("ix_websub_pings_time", "created_at"),
        Index("ix_websub_pings_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(200))
    topic_url: Mapped[str] = mapped_column(String(2000))
    hub_url: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16))  # pending | retrying | delivered | failed
    outcome: Mapped[str | None] = mapped_column(String(16))  # the last attempt's: ok | failed (None before one)
    http_status: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]


class WebSubSubscription(Base):
    """[wire] Our subscription to a partner's WebSub hub for one polled feed (0025_websub): states pending ->
    active -> (renewed) ... | denied | failed | expired, and unsubscribing once the source is gone
    (syndication.intake.subscriptions). The secret is sealed like source credentials and never leaves the row
    except to sign-check a content distribution."""

    __tablename__ = "websub_subscriptions"
    __table_args__ = (
        UniqueConstraint("source_id", name="uq_websub_subscriptions_source"),
        UniqueConstraint("callback_id", name="uq_websub_subscriptions_callback"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # NULL once the source is deleted: the row stays until the hub has been told to stop.
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    callback_id: Mapped[str] = mapped_column(String(64))  # the unguessable last segment of our callback URL
    hub_url: Mapped[str] = mapped_column(String(2000))
    topic_url: Mapped[str] = mapped_column(String(2000))
    state: Mapped[str] = mapped_column(String(16))  # pending | active | denied | failed | expired | unsubscribing
    # The request the hub accepted and has not verified yet (subscribe | unsubscribe), and when it was sent.
    request_mode: Mapped[str | None] = mapped_column(String(16))
    requested_at: Mapped[datetime | None]
    secret: Mapped[str] = mapped_column(Text)  # sealed (Fernet, fetch.credentials_key)
    lease_seconds: Mapped[int | None] = mapped_column(Integer)  # as granted by the hub
    verified_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    renew_at: Mapped[datetime | None]
    retry_at: Mapped[datetime | None]  # denied/failed/expired: a poll may subscribe again from then
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    pushes: Mapped[int] = mapped_column(Integer, default=0)  # content distributions taken
    last_push_at: Mapped[datetime | None]
    ignored: Mapped[int] = mapped_column(Integer, default=0)  # content distributions ignored (bad signature)
    last_ignored_at: Mapped[datetime | None]
    last_ignored_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ArchiveEntry(Base):
    """RFC 5005: the archive page an item was assigned to when it left a channel's window. Never moves."""

    __tablename__ = "archive_entries"
    __table_args__ = (
        UniqueConstraint("channel_id", "item_id", name="uq_archive_entries"),
        Index("ix_archive_entries_page", "channel_id", "page"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[int] = mapped_column(Integer)
    page: Mapped[int] = mapped_column(Integer)
    assigned_at: Mapped[datetime]


class ArchivePage(Base):
    """A page is frozen (never rewritten) once it is full and its successor exists."""

    __tablename__ = "archive_pages"
    __table_args__ = (UniqueConstraint("channel_id", "page", name="uq_archive_pages"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(200))
    page: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer, default=0)
    frozen_at: Mapped[datetime | None]


class PartnerPolicyState(Base):
    """The last partner rights policy seen by the relay, to emit `rights_changed` notices."""

    __tablename__ = "partner_policy_state"

    partner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_hash: Mapped[str] = mapped_column(String(64))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[datetime]


class Story(Base):
    """One news story carried by one or more partners' items ([normalise], revision 0004_normalise)."""

    __tablename__ = "stories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    original_agency: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Counter(Base):
    """[hardening] A figure kept on write (0020_retention_counters; syndication.db.counters): polls, items, notices,
    deliveries... added to in the transaction that does the work, so /metrics reads a few rows whatever the
    history, every process reports the same totals, and pruning old rows never lowers a counter.
    `labels` is the label set as sorted JSON (counters.label_key)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    labels: Mapped[str] = mapped_column(String(500), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
