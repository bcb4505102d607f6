"""What every process role holds: settings, the database, and how work is dispatched."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.session import make_engine, make_sessionmaker, migrate
from syndication.kernel.settings import Settings

if TYPE_CHECKING:
    from syndication.kernel.limiters import HostSlots, RateLimit
    from syndication.runtime.dispatch import Dispatcher


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    dispatcher: Dispatcher | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _host_slots: HostSlots | None = field(default=None, repr=False)
    _push_rate: RateLimit | None = field(default=None, repr=False)

    @property
    def host_slots(self) -> HostSlots:
        """Fetches in flight per partner host: this process's (embedded) or the deployment's (Redis, scaled)."""
        with self._lock:
            if self._host_slots is None:
                from syndication.kernel.limiters import host_slots  # lazy: a command that fetches nothing needs none

                self._host_slots = host_slots(self.settings)
            return self._host_slots

    @property
    def push_rate(self) -> RateLimit:
        """The push API's rate per partner: this process's (embedded) or every web process's (Redis, scaled)."""
        with self._lock:
            if self._push_rate is None:
                from syndication.kernel.limiters import push_rate_limit  # lazy: only the push API needs it

                self._push_rate = push_rate_limit(self.settings)
            return self._push_rate

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close()
        if self._host_slots is not None:
            self._host_slots.close()
        pool = self.extras.pop("parse_pool", None)  # syndication.runtime.cpu.POOL_KEY
        if pool is not None:
            pool.close()
        self.engine.dispose()


def open_runtime(settings: Settings, *, sync_partners: bool = True) -> Runtime:
    """Connect, migrate to the newest schema, and upsert the configured partners."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    rt = Runtime(settings=settings, engine=engine, sessions=make_sessionmaker(engine))
    # The story window and index bound, read by pipeline/stories.py from each session (not imported here: a
    # command that stores nothing loads no pipeline).
    rt.sessions.configure(info={"story_window": timedelta(hours=settings.stories.window_hours),
                                "story_index_max_items": settings.stories.index_max_items})
    if sync_partners:
        from syndication.partners.registry import sync_partners as _sync  # lazy: it brings intake (httpx) at start-up

        _sync(rt.sessions, settings)
    return rt
