"""Configuration: built-in defaults < TOML file < SYNDICATION_* environment.

The TOML file is read by us (not by a settings source) so that errors can name the file, and is passed
to Settings as init values; `settings_customise_sources` then puts the environment above them.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
    # A folder with consume = false is read in place: files stay, and are re-read only when they change.
    consume: bool = True
    username: str | None = None
    password: str | None = None
    token: str | None = None

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
    max_interval: int = 6 * 3600


class PublishSettings(_Strict):
    window: int = Field(default=100, ge=1, le=10_000)
    refresh_interval: int = Field(default=60, ge=1)
    debounce: float = Field(default=1.0, ge=0)
    ttl: int = Field(default=15, ge=1)  # minutes, RSS <ttl> and Cache-Control


class ScheduleSettings(_Strict):
    tick: float = Field(default=2.0, gt=0)
    lease_seconds: int = Field(default=300, ge=5)
    claim_batch: int = Field(default=50, ge=1)
    executor_threads: int = Field(default=4, ge=1)


class FolderSettings(_Strict):
    settle_seconds: float = Field(default=2.0, ge=0)


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
    partners: list[PartnerConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)

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


def _format_error(exc: ValidationError, origin: str) -> str:
    err = exc.errors()[0]
    loc = _format_loc(tuple(err["loc"]))
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {loc!r}"
    elif err["type"] == "missing":
        msg = f"missing required key {loc!r}"
    else:
        msg = f"{loc}: {err['msg'].removeprefix('Value error, ')}" if loc else err["msg"]
    more = len(exc.errors()) - 1
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
    origin = "environment"
    if path is not None:
        origin = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin)) from None
