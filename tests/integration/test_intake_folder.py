"""Drop folders: settle time, in-transfer names, done/ and failed/, crash points, read-only folders."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from syndication.db.models import Event, FolderFile, Item, Source
from syndication.kernel.settings import Settings
from syndication.operations.ops import source_status
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from tests.builders import rss, rss_item


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str) -> Callable[..., Settings]:
    """[hardening] Every test here that opens a runtime runs on SQLite and on the real PostgreSQL."""
    return functools.partial(make_settings, database_url=database_url)


class Crash(BaseException):
    """The process dies here (not an Exception: nothing may catch it)."""


def folder_runtime(make_runtime: Callable[..., Runtime], path: Path, consume: bool = True,
                   **overrides: Any) -> tuple[Runtime, int]:
    rt = make_runtime(partners=[{"id": "p", "name": "P", "sources": [
        {"kind": "folder", "path": str(path), "consume": consume}]}], **overrides)
    with rt.sessions() as s:
        sid = s.query(Source.id).scalar()
    return rt, sid


def settled(path: Path, age: float = 60) -> Path:
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def count(rt: Runtime, model: Any) -> int:
    with rt.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_settle_time_and_in_transfer_names(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop, folder={"settle_seconds": 2})
    fresh = drop / "fresh.xml"
    fresh.write_text(rss(1))
    for name in (".hidden.xml", "upload.xml.part", "upload2.tmp", "b.xml.tmp", "notes.txt"):
        (drop / name).write_text(rss([rss_item(9)]))
        settled(drop / name)
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 0 and fresh.exists()  # still settling
    settled(fresh)
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 1 and not fresh.exists() and (drop / "done" / "fresh.xml").exists()
    for name in (".hidden.xml", "upload.xml.part", "upload2.tmp", "b.xml.tmp", "notes.txt"):
        assert (drop / name).exists(), name
    # Renamed into place: taken.
    (drop / "upload.xml.part").rename(drop / "upload.xml")
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 1 and (drop / "done" / "upload.xml").exists()


def test_failed_file_goes_to_failed_with_reason(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop)
    (drop / "bad.xml").write_text("<html><body>not a feed</body></html>")
    (drop / "good.xml").write_text(rss(2))
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 2 and rep.status == "ok"
    assert (drop / "failed" / "bad.xml").exists() and (drop / "done" / "good.xml").exists()
    reason = (drop / "failed" / "bad.xml.error.txt").read_text()
    assert reason.startswith("not a feed: content type application/xml") and "<html><body>" in reason
    st = source_status(rt)[0]
    assert "bad.xml: not a feed" in st["last_error"] and st["last_accepted"] == 2
    with rt.sessions() as s:
        row = s.scalar(select(FolderFile).where(FolderFile.name == "bad.xml"))
        assert row is not None and row.state == "failed" and row.error == reason.strip()


def test_oversized_file_fails_with_the_limit_named(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop, fetch={"max_body_bytes": 1000})
    (drop / "big.xml").write_text(rss(5))
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.status == "error"
    assert "big.xml: body limit: file of" in (rep.error or "") and "exceeds the 1000 byte cap" in (rep.error or "")
    assert (drop / "failed" / "big.xml").exists() and (drop / "failed" / "big.xml.error.txt").exists()


def test_crash_after_commit_before_move_is_neither_lost_nor_processed_twice(
    make_runtime: Callable[..., Runtime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop)
    (drop / "a.xml").write_text(rss(3))

    def die(*a: Any, **k: Any) -> None:
        raise Crash

    monkeypatch.setattr(jobs, "move_aside", die)
    with pytest.raises(Crash):
        jobs.poll_source(rt, sid)
    assert (drop / "a.xml").exists() and count(rt, Item) == 3
    events = count(rt, Event)
    monkeypatch.undo()
    rep = jobs.poll_source(rt, sid)  # the restarted process
    assert rep is not None and rep.new == rep.updated == rep.unchanged == 0
    assert not (drop / "a.xml").exists() and (drop / "done" / "a.xml").exists()
    assert count(rt, Item) == 3 and count(rt, Event) == events


def test_crash_before_commit_leaves_the_file_to_be_processed(
    make_runtime: Callable[..., Runtime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop)
    (drop / "a.xml").write_text(rss(3))

    def die(*a: Any, **k: Any) -> None:
        raise Crash

    monkeypatch.setattr(jobs, "store_items", die)
    with pytest.raises(Crash):
        jobs.poll_source(rt, sid)
    assert (drop / "a.xml").exists() and count(rt, Item) == 0 and count(rt, FolderFile) == 0
    monkeypatch.undo()
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 3 and (drop / "done" / "a.xml").exists()


def test_crash_after_failed_record_moves_with_its_reason(
    make_runtime: Callable[..., Runtime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop)
    (drop / "bad.xml").write_text("garbage")
    calls = {"n": 0}
    real = jobs.move_aside

    def die(*a: Any, **k: Any) -> Path:
        calls["n"] += 1
        if calls["n"] == 1:
            raise Crash
        return real(*a, **k)

    monkeypatch.setattr(jobs, "move_aside", die)
    with pytest.raises(Crash):
        jobs.poll_source(rt, sid)
    jobs.poll_source(rt, sid)
    assert (drop / "failed" / "bad.xml").exists()
    assert (drop / "failed" / "bad.xml.error.txt").read_text().startswith("not a feed")


def test_same_name_with_new_content_is_taken_again(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop)
    (drop / "daily.xml").write_text(rss(1))
    jobs.poll_source(rt, sid)
    (drop / "daily.xml").write_text(rss([rss_item(5)]))
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 1
    assert sorted(p.name for p in (drop / "done").iterdir()) == ["daily.xml", "daily.xml.1"]


def test_read_only_folder_rereads_only_changed_files(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop, consume=False)
    feed = drop / "feed.xml"
    feed.write_text(rss(2))
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 2 and feed.exists() and not (drop / "done").exists()
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and (rep.new, rep.updated, rep.unchanged) == (0, 0, 0)  # not even re-read
    feed.touch()  # a newer mtime alone is no change
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and (rep.new, rep.updated, rep.unchanged) == (0, 0, 0)
    feed.write_text(rss(3))  # content changed: read again
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.new == 1 and rep.unchanged == 2 and feed.exists()


def test_missing_folder_is_an_error(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    rt, sid = folder_runtime(make_runtime, drop)
    drop.rmdir()
    rep = jobs.poll_source(rt, sid)
    assert rep is not None and rep.status == "error" and "does not exist" in (rep.error or "")
    assert source_status(rt)[0]["consecutive_errors"] == 1
