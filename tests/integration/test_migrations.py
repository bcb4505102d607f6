"""The schema: migrations build exactly what the models describe (from an empty database, and from 0009 with data
in every table), a fresh database created in one step equals the migrated one, and a database already at head is
opened without Alembic (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, inspect, select, text

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


def test_0023_redates_placeholder_dates_and_recomputes_simhash(database_url: str) -> None:
    """[real-feeds] Items stored before 0023 dated 0001-01-01 (Hugo's "no date") are dated by their first
    sighting with the old value kept in `partner_dates`; SimHashes computed with blake2b are recomputed with
    the pipeline's XXH3 SimHash, so old items keep matching new ones; short bodies (no SimHash) untouched."""
    import hashlib

    from syndication.pipeline.dedupe import body_words, simhash, to_signed

    body = "<p>" + " ".join(f"word{i}" for i in range(60)) + "</p>"
    words = body_words(body)
    blake = sum(1 << b for b in range(64) if sum(
        1 if int.from_bytes(hashlib.blake2b(" ".join(words[i:i + 3]).encode(), digest_size=8).digest(), "big") >> b & 1
        else -1 for i in range(len(words) - 2)) > 0)
    assert blake != simhash(words)
    seen = datetime(2026, 11, 20, 9, 30)
    engine = make_engine(database_url)
    try:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0011_rounds")
        old = MetaData()
        old.reflect(bind=engine)
        items = old.tables["items"]
        common = {"partner_id": "hugo", "title": "About", "authors": [], "categories": [], "updated_at": seen,
                  "sort_at": seen, "first_seen_at": seen, "last_seen_at": seen, "content_hash": "c", "version": 1,
                  "status": "usable", "attribution": {}, "flags": [], "title_key": "about"}
        with engine.begin() as conn:
            conn.execute(old.tables["partners"].insert().values(
                id="hugo", name="Hugo", credit="Hugo", created_at=seen, updated_at=seen))
            conn.execute(items.insert(), [
                {**common, "id": 1, "key": "k1", "content_html": body, "published_at": datetime(1, 1, 1),
                 "sort_at": datetime(1, 1, 1), "simhash": to_signed(blake)},
                {**common, "id": 2, "key": "k2", "content_html": "<p>short</p>", "published_at": seen,
                 "simhash": None},
            ])
        migrate(engine)
        with engine.connect() as conn:
            new = MetaData()
            new.reflect(bind=engine)
            rows = {r.id: r for r in conn.execute(select(new.tables["items"]).order_by(text("id")))}
    finally:
        engine.dispose()
    first = rows[1]
    assert first.published_at.replace(tzinfo=None) == seen and first.sort_at.replace(tzinfo=None) == seen
    assert first.partner_dates == [{"field": "published", "raw": "0001-01-01T00:00:00+00:00",
                                    "reason": "before 1970-01-02 (a placeholder for no date)"}]
    assert "date_set_aside" in first.flags
    assert first.simhash == to_signed(simhash(words))
    second = rows[2]
    assert second.simhash is None and second.partner_dates is None and second.flags == []
