"""The schema: migrations build exactly what the models describe, a fresh database created in one step
equals the migrated one, and a database already at head is opened without Alembic (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from syndication.db.models import Base
from syndication.db.session import alembic_config, make_engine, migrate, migration_heads, upgrade
from tests.conftest import REPO


def test_single_head_after_merge() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_heads_read_from_the_files_equal_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert migration_heads() == frozenset(script.get_heads())


def test_migrated_schema_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            upgrade(conn)  # the migrations themselves, from 0001 (migrate() would create an empty one in one step)
        migrate(engine)  # idempotent
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == [], diff
    finally:
        engine.dispose()


def _schema(engine: Engine) -> dict[str, Any]:
    """Everything reflection sees of each table, in a comparable form."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        columns = [
            (c["name"], str(c["type"]), c["nullable"], str(c.get("default")), bool(c.get("autoincrement")))
            for c in insp.get_columns(table)
        ]
        out[table] = {
            "columns": sorted(columns),
            "pk": tuple(insp.get_pk_constraint(table)["constrained_columns"]),
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                           str(f.get("options", {}).get("ondelete"))) for f in insp.get_foreign_keys(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(table)),
            "uniques": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)),
        }
    return out


def test_created_schema_equals_migrated(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)  # an empty database: created from the models in one step and stamped
        created = _schema(engine)  # the version table included: it must be the one Alembic makes
        with engine.connect() as conn:
            stamped = set(MigrationContext.configure(conn).get_current_heads())
        assert stamped == set(migration_heads())
        with engine.begin() as conn:
            upgrade(conn)  # Alembic agrees it is at head: nothing to apply, nothing changed
        assert _schema(engine) == created
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE alembic_version"))
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            upgrade(conn)  # every migration from 0001
        migrated = _schema(engine)
        assert set(created) == set(migrated)
        for table in created:
            assert created[table] == migrated[table], table
    finally:
        engine.dispose()


def _opens_without_alembic(database_url: str) -> bool:
    code = (
        "import sys\n"
        "from syndication.db.session import make_engine, migrate\n"
        f"engine = make_engine({database_url!r})\n"
        "migrate(engine)\n"
        "engine.dispose()\n"
        "print('alembic' not in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


def test_database_at_head_is_opened_without_alembic(database_url: str) -> None:
    assert _opens_without_alembic(database_url)  # empty: created from the models and stamped
    assert _opens_without_alembic(database_url)  # at head: one read
    engine = make_engine(database_url)
    try:  # a database at an older revision is still upgraded by Alembic, its data kept
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE alembic_version"))
            cfg = alembic_config(database_url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            conn.execute(text("INSERT INTO partners (id, name, credit, created_at, updated_at) "
                              "VALUES ('old', 'Old', 'Old agency', '2026-01-01', '2026-01-01')"))
    finally:
        engine.dispose()
    assert not _opens_without_alembic(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == migration_heads()
            assert conn.execute(text("SELECT name FROM partners")).scalar_one() == "Old"
    finally:
        engine.dispose()
