"""What every process role holds: settings, the database, and how work is dispatched."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.session import make_engine, make_sessionmaker, migrate
from syndication.settings import Settings

if TYPE_CHECKING:
    from syndication.dispatch import Dispatcher


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    dispatcher: Dispatcher | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close()
        pool = self.extras.pop("parse_pool", None)  # syndication.cpu.POOL_KEY
        if pool is not None:
            pool.close()
        self.engine.dispose()


def open_runtime(settings: Settings, *, sync_partners: bool = True) -> Runtime:
    """Connect, migrate to the newest schema, and upsert the configured partners."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url)
    migrate(engine)
    rt = Runtime(settings=settings, engine=engine, sessions=make_sessionmaker(engine))
    if sync_partners:
        from syndication.partners import sync_partners as _sync

        _sync(rt.sessions, settings)
    return rt
