"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL, from an empty
database and from 0009 with data in every table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, select

from syndication.db.models import Base
from syndication.db.session import alembic_config, make_engine, migrate


def test_single_head_after_merge() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # idempotent
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], diff
    finally:
        engine.dispose()


BASE_REVISION = "0009_channel_dirty_seq"  # the head when [hardening] began: every later migration upgrades from it


def _value(table: str, column: Any) -> Any:
    """A value of the column's type (reflected, so as the database has it), distinct per table and column."""
    try:
        kind = column.type.python_type
    except NotImplementedError:
        kind = str
    if kind is bool:
        return True
    if kind is int:
        return 1 if column.primary_key else 7
    if kind is float:
        return 1.5
    if kind is datetime:
        return datetime(2026, 11, 20, 9, 30, 15)
    if kind is dict or kind is list or column.type.__class__.__name__.upper() in ("JSON", "JSONB"):
        return {"kept": [1, "two"], "table": table}
    if kind is bytes:
        return b"\x00\x01kept"
    text = f"{table}.{column.name}: ünïcode ✓"
    length = getattr(column.type, "length", None)
    return text[:length] if length else text


def test_upgrade_from_0009_with_data_keeps_every_row_and_matches_models(database_url: str) -> None:
    """One row in every table at 0009 (foreign keys pointing at each other), then upgrade to whatever the head
    is now: every value is still there and the schema is the models'. A standing test: each migration added
    later is covered by it without change."""
    from alembic import command

    engine = make_engine(database_url)
    try:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, BASE_REVISION)
        old = MetaData()
        old.reflect(bind=engine)
        before: dict[str, dict[str, Any]] = {}
        with engine.begin() as conn:
            for table in old.sorted_tables:
                if table.name == "alembic_version":
                    continue
                row: dict[str, Any] = {}
                for column in table.columns:
                    fks = list(column.foreign_keys)
                    if fks:
                        parent = fks[0].column
                        value = before.get(parent.table.name, {}).get(parent.name)
                        if value is None and not column.nullable:
                            raise AssertionError(f"{table.name}.{column.name}: parent {parent.table.name} not filled")
                        row[column.name] = value
                    else:
                        row[column.name] = _value(table.name, column)
                conn.execute(table.insert().values(**row))
                before[table.name] = dict(conn.execute(select(table)).mappings().one())
        assert len(before) >= 15, sorted(before)

        migrate(engine)

        new = MetaData()
        new.reflect(bind=engine)
        with engine.connect() as conn:
            for name, row in before.items():
                assert name in new.tables, f"table {name} was dropped by a migration after {BASE_REVISION}"
                after = dict(conn.execute(select(new.tables[name])).mappings().one())
                kept = {k: after.get(k) for k in row}
                assert kept == row, f"{name}: data changed by the upgrade"
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], diff
    finally:
        engine.dispose()
