"""Engine and sessions. SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` transactions."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Executable,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import Base

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
    # Alembic costs ~0.1 s to import: only a schema change (or the alembic CLI) needs it.
    from alembic.config import Config  # lazy: start-up: Alembic costs ~0.3 s; only migrating needs it

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


_REVISION_LINE = re.compile(r"^(down_)?revision\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)


@functools.cache
def migration_heads() -> frozenset[str]:
    """The newest revisions, read from the migration files' `revision` / `down_revision` lines without
    importing Alembic (tested equal to Alembic's own ScriptDirectory.get_heads())."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            parsed = ast.literal_eval(value)
            if not down:
                revisions.add(parsed)
            elif isinstance(parsed, str):
                parents.add(parsed)
            elif parsed:
                parents.update(parsed)
    return frozenset(revisions - parents)


def schema_revisions(conn: Connection) -> frozenset[str] | None:
    """The revisions the database is stamped with; None when it has no version table."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return frozenset(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe from several processes).

    Three cases, cheapest first: a database already at head costs one read and no Alembic; an empty
    database gets every table from the models in one step, stamped at head (tests prove the result equal
    to the migrated schema on SQLite and PostgreSQL), still without Alembic; anything else is upgraded by
    Alembic."""
    heads = migration_heads()
    with engine.connect() as conn:
        if schema_revisions(conn) == heads:
            return
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
        if engine.dialect.name == "postgresql":
            # Two processes starting at once must not both create the tables.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724011)")
        current = schema_revisions(conn)  # again, under the lock: another process may have done it
        if current == heads:
            return
        if current is None and not inspect(conn).get_table_names():
            create_schema(conn)
            return
        upgrade(conn)


def create_schema(conn: Connection) -> None:
    """A fresh database (the caller found no table): the models' tables in one step, stamped at the migrations'
    heads. No table is looked up first (checkfirst: one query per table): there is none."""
    Base.metadata.create_all(conn, checkfirst=False)
    # This is `alembic stamp heads` written out: importing Alembic alone costs ~0.15 s. The table is the one
    # Alembic creates (DefaultImpl.version_table_impl); tests check Alembic reads it back as at head.
    version = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
    version.create(conn)
    conn.execute(version.insert(), [{"version_num": head} for head in sorted(migration_heads())])


def upgrade(conn: Connection) -> None:
    """Replay the migrations from wherever the database stands (Alembic `upgrade heads`)."""
    from alembic import command  # lazy: start-up: Alembic costs ~0.3 s; only migrating needs it

    cfg = alembic_config(conn.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = conn
    # "heads": feature branches of the schema may be merged later; every head is applied.
    command.upgrade(cfg, "heads")


def insert_missing(
    session: Session, model: type[Any], rows: list[dict[str, Any]], key: str | tuple[str, ...]
) -> None:
    """INSERT the rows whose `key` (a column, or the columns of a composite key) is not taken yet, atomically
    (ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike): concurrent writers creating the same row never
    fail each other's transaction."""
    if not rows:
        return
    columns = [key] if isinstance(key, str) else list(key)
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # lazy: start-up: SQLite-only processes never need it

        stmt: Executable = postgresql.insert(model).values(rows).on_conflict_do_nothing(index_elements=columns)
    else:
        stmt = sqlite.insert(model).values(rows).on_conflict_do_nothing(index_elements=columns)
    session.execute(stmt)
