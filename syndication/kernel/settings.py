"""Configuration: built-in defaults < TOML file < SYNDICATION_* environment.

The TOML file is read by us (not by a settings source) so that errors can name the file, and is passed
to Settings as init values; `settings_customise_sources` then puts the environment above them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

PARTNER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
DEFAULT_CONFIG = Path("config/syndication.toml")


class ConfigError(Exception):
    """A configuration problem a user must fix; its message is one line naming key and file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    kind: Literal["feed", "folder", "push"]
    url: str | None = None
    path: str | None = None
    interval: int = Field(default=300, ge=5, le=7 * 86400)
    # How far polls of a quiet source may be stretched (intake.decide): default 4 x interval, and never beyond
    # fetch.max_interval (1 h unless configured). New items bring the source back to `interval` at once.
    max_interval: int | None = Field(default=None, ge=5, le=7 * 86400)
    # A folder with consume = false is read in place: files stay, and are re-read only when they change.
    consume: bool = True
    # Fetch credentials ([intake]): HTTP Basic (username + password) or a bearer token. A secret may be
    # given literally (stored sealed) or as the name of an environment variable read at fetch time.
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="after")
    def _credentials(self) -> SourceConfig:
        if (self.token or self.token_env) and (self.username or self.password or self.password_env):
            raise ValueError("give either a bearer token or username/password, not both")
        if (self.password or self.password_env) and not self.username:
            raise ValueError("a password needs a username")
        if self.password and self.password_env:
            raise ValueError("give password or password_env, not both")
        if self.token and self.token_env:
            raise ValueError("give token or token_env, not both")
        return self

    @model_validator(mode="after")
    def _bound(self) -> SourceConfig:
        if self.max_interval is not None and self.max_interval < self.interval:
            raise ValueError(f"max_interval ({self.max_interval}) must be at least interval ({self.interval})")
        return self

    @model_validator(mode="after")
    def _locator(self) -> SourceConfig:
        if self.kind == "feed":
            if not self.url:
                raise ValueError("a feed source needs url")
            check_feed_url(self.url)
        if self.kind == "folder" and not self.path:
            raise ValueError("a folder source needs path")
        return self

    @property
    def locator(self) -> str:
        if self.kind == "feed":
            return self.url or ""
        if self.kind == "folder":
            return self.path or ""
        return "push"


def check_feed_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"feed url must be an absolute http(s) URL, got {url!r}")
    return url


def check_webhook_secret(value: SecretStr) -> SecretStr:
    """A webhook secret must be a Standard Webhooks `whsec_` secret (the message says how to make one)."""
    # lazy: start-up: every command loads settings; the publish stack only when a secret is set
    from syndication.publish.signing import secret_key

    secret_key(value.get_secret_value())
    return value


class CreditPatterns(_Strict):
    """[normalise] a partner's own credit conventions: extra regular expressions per kind of line, tried
    before the built-in ones, with named groups saying what they carry (agency, source, place, region,
    date, names, roles, photo, caption); and agency names to recognise (see docs/attribution.md)."""

    dateline: list[str] = Field(default_factory=list)
    byline: list[str] = Field(default_factory=list)
    photo: list[str] = Field(default_factory=list)
    credit_line: list[str] = Field(default_factory=list)
    inline: list[str] = Field(default_factory=list)
    agencies: list[str] = Field(default_factory=list)

    @field_validator("dateline", "byline", "photo", "credit_line", "inline")
    @classmethod
    def _compiles(cls, v: list[str], info: Any) -> list[str]:
        # lazy: start-up: every command loads settings; the pipeline only when patterns are set
        from syndication.pipeline.credits import validate_patterns

        return validate_patterns(str(info.field_name), v)

    @field_validator("agencies")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not name.strip() or len(name) > 80:
                raise ValueError(f"agency name {name!r} must be 1-80 characters")
        return v

    def tables(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple(
            (name, tuple(getattr(self, name)))
            for name in ("dateline", "byline", "photo", "credit_line", "inline") if getattr(self, name)
        )


class PartnerConfig(_Strict):
    id: str
    name: str
    homepage: str | None = None
    credit: str | None = None
    license_url: str | None = None
    usage_terms: str | None = None
    copyright: str | None = None
    language: str | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    # Rights policy and normalisation rules ([normalise]); all optional, sensible defaults apply.
    attribution_template: str | None = None
    no_derivatives: bool = False
    tracking_pixel_url: str | None = None
    default_image_credit: str | None = None
    furniture_selectors: list[str] = Field(default_factory=list)
    furniture_patterns: list[str] = Field(default_factory=list)
    credit_patterns: CreditPatterns = Field(default_factory=CreditPatterns)
    allowed_iframe_hosts: list[str] = Field(default_factory=list)
    embargo_delay: int = Field(default=0, ge=0, le=30 * 86400)  # seconds after publication
    # [publish] republishing notices: webhook endpoint and secret, token for /notices/<id>.atom?token=...
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    notices_token: SecretStr | None = None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr | None) -> SecretStr | None:
        return check_webhook_secret(v) if v is not None else v

    @field_validator("furniture_selectors")
    @classmethod
    def _selectors(cls, v: list[str]) -> list[str]:
        # lazy: start-up: every command loads settings; lxml only when selectors are set
        from cssselect import ExpressionError, SelectorError
        from lxml.cssselect import CSSSelector

        for sel in v:
            try:
                CSSSelector(sel)
            except (SelectorError, ExpressionError) as exc:
                raise ValueError(f"invalid CSS selector {sel!r}: {exc}") from None
        return v

    @field_validator("furniture_patterns")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for pat in v:
            try:
                re.compile(pat)
            except re.error as exc:
                raise ValueError(f"invalid pattern {pat!r}: {exc}") from None
        return v

    @field_validator("attribution_template")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        # lazy: start-up: every command loads settings; the pipeline only when a template is set
        from syndication.pipeline.policy import check_template

        return check_template(v) if v is not None else v

    @field_validator("tracking_pixel_url")
    @classmethod
    def _pixel(cls, v: str | None) -> str | None:
        if v is not None:
            check_feed_url(v)
        return v

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not PARTNER_ID_RE.match(v):
            raise ValueError(f"partner id {v!r} must match [a-z0-9][a-z0-9-]*")
        return v


class FetchSettings(_Strict):
    allow_private_addresses: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_body_bytes: int = 15 * 1024 * 1024
    max_redirects: int = 5
    per_host_concurrency: int = 2
    user_agent: str = "syndication/0.1 (+https://github.com/syndication/syndication)"
    backoff_cap: int = 24 * 3600
    # The global cap on stretching a quiet source's polls (a source's own max_interval stays within it).
    max_interval: int = Field(default=3600, ge=5, le=7 * 86400)
    # [intake] total time for one fetch (a server dripping bytes never trips read_timeout).
    total_timeout: float = Field(default=120.0, gt=0)
    # [intake] key sealing literal source passwords/tokens in the database (Fernet, url-safe base64);
    # unset: generated once in <data_dir>/credentials.key. Give every host the same key when scaled out.
    credentials_key: SecretStr | None = None


class PublishSettings(_Strict):
    window: int = Field(default=100, ge=1, le=10_000)
    refresh_interval: int = Field(default=300, ge=1)  # seconds; the first full publish runs at start
    debounce: float = Field(default=1.0, ge=0)
    # A round of polls (a scheduler tick, `syndication ingest`) publishes once, when its last poll ends; the
    # scheduler tick publishes a change that has waited this many seconds for a round still running.
    round_max_delay: float = Field(default=5.0, gt=0)
    ttl: int = Field(default=15, ge=1)  # minutes, RSS <ttl> and Cache-Control
    # RFC 5005 archive pages: items per page (default: the channel's window).
    archive_page_size: int | None = Field(default=None, ge=1, le=10_000)
    # RFC 6721: how long a withdrawn item stays as an at:deleted-entry tombstone in the Atom feed.
    tombstone_days: float = Field(default=7.0, ge=0)
    # A channel whose files could not be written is retried after retry_base seconds, doubling per
    # consecutive failure up to retry_cap (±20 % jitter); the scheduler tick notices when one is due.
    retry_base: float = Field(default=1.0, gt=0)
    retry_cap: float = Field(default=60.0, gt=0)


class WebSubSettings(_Strict):
    """`[websub]`: ping a hub (hub.mode=publish) when a channel changes, and subscribe to partners' hubs.

    Pings are deliveries on the notify queue (publishing never waits for a hub): a failed ping is retried
    `retries` times, after `retry_delay` s, doubling, ±20 % jitter.

    Subscribing ([wire]): a polled feed that advertises a hub is subscribed to (syndication.intake.subscriptions)
    with a callback under `public_url`; its polls go on at their interval as a safety net."""

    hub_url: str | None = None
    retries: int = Field(default=5, ge=0, le=20)
    retry_delay: float = Field(default=5.0, ge=0)  # seconds, doubled per retry
    timeout: float = Field(default=10.0, gt=0)
    # Subscribe to the hubs partners' feeds advertise (off: poll only).
    subscribe: bool = True
    # The lease we ask the hub for (hub.lease_seconds); the hub may grant another, which is the one we keep.
    lease_seconds: int = Field(default=10 * 86400, ge=60, le=365 * 86400)
    # Renew this long before the granted lease ends (at most half the lease, so short leases renew midway).
    renew_before: int = Field(default=86400, ge=1)
    # A hub that has not verified our intent this long after accepting a request has failed us.
    verify_timeout: float = Field(default=300.0, gt=0)
    # After a hub failed (refused, never verified, denied, lease lapsed), the next poll that still sees it
    # advertised subscribes again once this long has passed.
    retry_after: int = Field(default=3600, ge=1)

    @field_validator("hub_url")
    @classmethod
    def _hub(cls, v: str | None) -> str | None:
        return check_feed_url(v) if v else v


class NoticesSettings(_Strict):
    """`[notices]`: republishing notices feeds."""

    window: int = Field(default=200, ge=1, le=10_000)
    # How a partner proves it may read /notices/<partner_id>.atom: its push key as a bearer token ("key"),
    # its notices_token (bearer or ?token=) ("token"), or either.
    auth: Literal["key", "token", "either"] = "either"


class WebhookSettings(_Strict):
    """`[webhooks]`: signed POSTs of notices to partner and subscriber endpoints."""

    interval: float = Field(default=30.0, gt=0)  # seconds between delivery runs
    batch: int = Field(default=100, ge=1)
    timeout: float = Field(default=10.0, gt=0)
    lease_seconds: int = Field(default=120, ge=5)
    backoff_base: float = Field(default=30.0, ge=0)  # seconds; doubled per failed attempt, ±20 % jitter
    backoff_cap: float = Field(default=3600.0, ge=0)
    max_age: float = Field(default=24 * 3600.0, gt=0)  # seconds after which a retrying delivery fails

    @model_validator(mode="after")
    def _lease_outlives_a_post(self) -> WebhookSettings:
        # A delivery is claimed for one POST (connect, send, answer: each up to `timeout`); a lease shorter
        # than that would let a second runner take it while the first is still sending.
        if self.lease_seconds <= 3 * self.timeout:
            raise ValueError(f"lease_seconds ({self.lease_seconds}) must exceed 3 x timeout ({self.timeout}): "
                             "a delivery's lease has to outlive its POST")
        return self


NoticeKind = Literal["republished", "updated", "corrected", "withdrawn", "rights_changed"]


class SubscriberConfig(_Strict):
    """`[[subscribers]]`: a downstream republisher's webhook endpoint."""

    id: str
    webhook_url: str
    webhook_secret: SecretStr
    kinds: list[NoticeKind] = Field(default_factory=lambda: list[NoticeKind](["corrected", "withdrawn"]))
    partners: list[str] = Field(default_factory=list)  # empty = every partner

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, v: SecretStr) -> SecretStr:
        return check_webhook_secret(v)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not PARTNER_ID_RE.match(v):
            raise ValueError(f"subscriber id {v!r} must match [a-z0-9][a-z0-9-]*")
        return v

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_feed_url(v)


class ScheduleSettings(_Strict):
    tick: float = Field(default=2.0, gt=0)
    lease_seconds: int = Field(default=300, ge=5)
    claim_batch: int = Field(default=50, ge=1)
    executor_threads: int = Field(default=4, ge=1)
    # Embedded mode: worker processes that parse, normalise and fingerprint fetched documents (syndication/
    # cpu.py), so polling uses more than one core. 0 keeps everything in the one process.
    parse_processes: int = Field(default=0, ge=0, le=64)


class ApiSettings(_Strict):
    """The partner push API (`[api]`)."""

    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(default=60, ge=1)
    # Requests a partner may send at once before the per-minute rate applies (default: one minute's worth).
    rate_limit_burst: int | None = Field(default=None, ge=1)
    # Server-side secret mixed into push-key hashes (HMAC-SHA256). Set it (e.g. SYNDICATION_API__KEY_PEPPER)
    # identically on every host that issues or checks keys; unset, one is generated under the data dir.
    key_pepper: SecretStr | None = None


class FolderSettings(_Strict):
    settle_seconds: float = Field(default=2.0, ge=0)


class CelerySettings(_Strict):
    """Scaled mode ([scale-out]). Invariant: time_limit < visibility_timeout, retry_backoff_max < visibility_timeout.

    A task lost with its worker (kill -9) is redelivered within visibility_timeout + restore_interval seconds.
    """

    soft_time_limit: float = Field(default=100, gt=0)
    time_limit: float = Field(default=120, gt=0)
    visibility_timeout: int = Field(default=150, ge=2)
    restore_interval: float = Field(default=5, gt=0)  # kombu unacked_restore_interval (throttle 1)
    max_tasks_per_child: int = Field(default=500, ge=1)
    max_retries: int = Field(default=5, ge=0)
    retry_backoff: float = Field(default=2.0, gt=0)  # first retry after ~this many seconds, doubling
    retry_backoff_max: float = Field(default=60.0, gt=0)
    # Prefix of every Redis key (queues, unacked set, ...): deployments (or tests) sharing one Redis stay apart.
    key_prefix: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> CelerySettings:
        if not self.soft_time_limit < self.time_limit < self.visibility_timeout:
            raise ValueError("need soft_time_limit < time_limit < visibility_timeout")
        if self.retry_backoff_max >= self.visibility_timeout:
            raise ValueError("retry_backoff_max must be below visibility_timeout (longer countdowns re-run)")
        return self


class ChannelConfig(_Strict):
    id: str
    title: str
    description: str = ""
    partners: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    language: str | None = None
    window: int | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not PARTNER_ID_RE.match(v) or v in ("all", "partners"):
            raise ValueError(f"channel id {v!r} must match [a-z0-9][a-z0-9-]* and not be reserved")
        return v


OPS_TOKEN_MIN_LENGTH = 32


class OpsSettings(_Strict):
    # Operator token for /ops, its actions and /metrics. Unset: served to loopback clients only.
    token: str | None = None
    refresh_seconds: int = Field(default=10, ge=0)  # /ops meta refresh; 0 = off
    # Lifetime of a browser session made by /ops/login (the cookie and its row in ops_sessions).
    session_seconds: int = Field(default=12 * 3600, ge=1, le=30 * 86400)
    # How often the scheduler samples the figures /ops draws over time (ops_samples; kept two days).
    sample_seconds: int = Field(default=300, ge=1, le=3600)

    @field_validator("token")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        # A short token falls to guessing even behind the failed-auth throttle; never echo it back.
        if v is not None and v != "" and len(v) < OPS_TOKEN_MIN_LENGTH:
            raise ValueError(
                f"the operator token must be at least {OPS_TOKEN_MIN_LENGTH} characters (it has {len(v)}); make one "
                "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return v


class AuthSettings(_Strict):
    """`[auth]`: failed authentication (push keys, notices keys, operator token and login) per client address."""

    # After this many failures from one address within window_seconds, that address gets 429 + Retry-After
    # (credentials are not even checked) until the oldest failure leaves the window.
    max_failures: int = Field(default=10, ge=1)
    window_seconds: int = Field(default=60, ge=1, le=86400)


class CacheSettings(_Strict):
    """`[cache]`: the bounds of this process's in-memory caches (each is least-recently-used within its bound)."""

    # Rendered feed entries kept by the publisher (a channel after one change re-renders one entry, not all).
    # The windows of every channel in every format fit in about channels x window x 4 x 6 KB (Atom, RSS, JSON
    # Feed, ninjs); beyond the bound an entry is read back from a file written before (publish.files.EntryFiles,
    # whose locations take a quarter of this bound), else rendered again.
    entries_mb: int = Field(default=64, ge=1, le=4096)
    # Published files (and their gzip encodings) held by the web process.
    files_mb: int = Field(default=64, ge=1, le=4096)


class StorySettings(_Strict):
    """`[stories]`: which items of different partners can be one story, and this process's index of them."""

    # Near duplicates (same or similar title, close SimHash) are one story only when published at most this far
    # apart; the same URL or body text is one story whatever the distance (pipeline/stories.py).
    window_hours: float = Field(default=72.0, gt=0, le=30 * 24)
    # The in-memory story index holds every item of the window up to this many (about 0.4 kB each); past it the
    # oldest are forgotten first, and a near duplicate of a forgotten item is no longer found ([hardening] 10).
    index_max_items: int = Field(default=200_000, ge=100, le=50_000_000)


class RetentionSettings(_Strict):
    """`[retention]`: history tables pruned by the scheduler (syndication.operations.retention). Figures are kept on
    write (syndication.db.counters), so pruning never lowers a metric; what the story index, the relay, archives,
    tombstones and the notices feeds still read is always kept."""

    enabled: bool = True
    interval: float = Field(default=3600.0, gt=0)  # seconds between runs (the first one minutes after start)
    batch: int = Field(default=2000, ge=1, le=100_000)  # rows deleted per transaction
    max_seconds: float = Field(default=60.0, gt=0)  # a run stops after this long; the next one goes on
    polls_days: float = Field(default=14.0, gt=0)
    # Relayed events; at least 2 days: the republish lag of an item is read from its creation event for a day.
    events_days: float = Field(default=7.0, ge=2)
    # Item versions: every version recorded within versions_days is kept, and the newest versions_keep of each
    # item whatever their age (the current one among them).
    versions_days: float = Field(default=90.0, gt=0)
    versions_keep: int = Field(default=10, ge=1)
    # Notices whose deliveries are all finished (and not among the newest of a notices feed), delivered or
    # failed deliveries, finished WebSub pings.
    notices_days: float = Field(default=90.0, gt=0)
    deliveries_days: float = Field(default=90.0, gt=0)
    # Dead letters once replayed; one never replayed is kept until an operator replays it.
    dead_letters_days: float = Field(default=30.0, gt=0)


class LogSettings(_Strict):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # One line per HTTP request: off by default — feed readers poll constantly, and writing a line per
    # 304 halves the requests a process serves (bench: serve). Turn on to debug clients.
    access: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SYNDICATION_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    service_name: str = "Syndication"
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    publish: PublishSettings = Field(default_factory=PublishSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    folder: FolderSettings = Field(default_factory=FolderSettings)
    celery: CelerySettings = Field(default_factory=CelerySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    stories: StorySettings = Field(default_factory=StorySettings)
    log: LogSettings = Field(default_factory=LogSettings)
    partners: list[PartnerConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    websub: WebSubSettings = Field(default_factory=WebSubSettings)
    notices: NoticesSettings = Field(default_factory=NoticesSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    subscribers: list[SubscriberConfig] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment above the TOML values that arrive as init kwargs.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _unique_partners(self) -> Settings:
        seen: set[str] = set()
        for i, p in enumerate(self.partners):
            if p.id in seen:
                raise ValueError(f"partners[{i}].id: duplicate partner id {p.id!r}")
            seen.add(p.id)
        return self

    @model_validator(mode="after")
    def _bounds_within_the_cap(self) -> Settings:
        # Said, not silently clamped: a source's own bound beyond the global cap would never apply.
        for i, p in enumerate(self.partners):
            for j, s in enumerate(p.sources):
                if s.max_interval is not None and s.max_interval > self.fetch.max_interval:
                    raise ValueError(f"partners[{i}].sources[{j}].max_interval: {s.max_interval} is above "
                                     f"fetch.max_interval ({self.fetch.max_interval}); raise that too")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'syndication.db').resolve()}"

    @property
    def public_dir(self) -> Path:
        return self.data_dir / "public"

    @property
    def feeds_dir(self) -> Path:
        return self.public_dir / "feeds"

    @property
    def embedded(self) -> bool:
        return not self.broker_url


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


ENV_PREFIX = "SYNDICATION_"
ENV_NOT_SETTINGS = ("SYNDICATION_CONFIG",)  # names the file; read by resolve_config_path, not a setting


def env_keys(environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """The settings keys the environment sets, as pydantic-settings reads them (prefix and case ignored,
    nesting by `__`), each with the variable's name as the user spelled it."""
    keys: dict[tuple[str, ...], str] = {}
    for name in environ:
        upper = name.upper()
        if upper.startswith(ENV_PREFIX) and upper not in ENV_NOT_SETTINGS:
            keys[tuple(upper[len(ENV_PREFIX):].lower().split("__"))] = name
    return keys


def blame(loc: tuple[int | str, ...], env: Mapping[tuple[str, ...], str], file_origin: str) -> str:
    """Where the value at `loc` came from: the environment variables that set it (or, for a check over a
    whole section, that set something in it), else the file.

    The environment is above the file, so a key both set is the variable's."""
    key = tuple(str(part) for part in loc)
    names = sorted(name for path, name in env.items()
                   if key and (key[:len(path)] == path or path[:len(key)] == key))
    if names:
        return "environment variable " + ", ".join(names)
    return file_origin


def _format_error(exc: ValidationError, file_origin: str, env: Mapping[tuple[str, ...], str]) -> str:
    err = exc.errors()[0]
    raw_loc = tuple(err["loc"])
    loc = _format_loc(raw_loc)
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {loc!r}"
    elif err["type"] == "missing":
        msg = f"missing required key {loc!r}"
    else:
        msg = f"{loc}: {err['msg'].removeprefix('Value error, ')}" if loc else err["msg"]
    more = len(exc.errors()) - 1
    origin = blame(raw_loc, env, file_origin)
    return f"{origin}: {msg}" + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def resolve_config_path(explicit: str | Path | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get("SYNDICATION_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Load settings; raise ConfigError with a one-line message on any problem."""
    path = resolve_config_path(config_path)
    data: dict[str, Any] = {}
    origin = "environment"  # no file: every value came from the environment (or a default)
    if path is not None:
        origin = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    data.update(overrides)
    env = env_keys(os.environ)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin, env)) from None
    except SettingsError as exc:
        # A section or list given as one variable (SYNDICATION_PUBLISH, SYNDICATION_PARTNERS) must be JSON.
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else ""
        name = env.get((field,), f"{ENV_PREFIX}{field.upper()}")
        raise ConfigError(f"environment variable {name}: not valid JSON ({field!r} given whole in one variable "
                          "must be JSON)") from None
