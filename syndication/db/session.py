"""Engine and sessions. SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, create_engine, event
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_OPTION = "syndication_write"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_setup(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is DEFERRED, and a deferred
        # transaction that later writes can fail with SQLITE_BUSY without waiting.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Write transactions (`transaction()`, migrations) take the write lock at BEGIN: one writer at a
        # time, decided up front, so two claimers never both read "due" and a read never has to be
        # upgraded to a write (which WAL cannot wait for). Plain reading sessions begin DEFERRED and
        # never queue behind a writer.
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A write transaction: committed on success, rolled back on error (BEGIN IMMEDIATE on SQLite)."""
    with factory() as session, session.begin():
        session.connection(execution_options={WRITE_OPTION: True})
        yield session


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe from several processes)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            # Two processes starting at once must not both create the tables.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724011)")
        cfg.attributes["connection"] = conn
        # "heads": feature branches of the schema may be merged later; every head is applied.
        command.upgrade(cfg, "heads")


def insert_missing(session: Session, model: type[Any], rows: list[dict[str, Any]], key: str) -> None:
    """INSERT the rows whose `key` is not taken yet, atomically (ON CONFLICT DO NOTHING on SQLite and
    PostgreSQL alike): concurrent writers creating the same row never fail each other's transaction."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Imported here: the PostgreSQL dialect module is heavy and embedded (SQLite) processes never need it.
        from sqlalchemy.dialects import postgresql

        stmt: Executable = postgresql.insert(model).values(rows).on_conflict_do_nothing(index_elements=[key])
    else:
        stmt = sqlite.insert(model).values(rows).on_conflict_do_nothing(index_elements=[key])
    session.execute(stmt)
