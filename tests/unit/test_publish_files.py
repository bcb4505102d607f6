"""[real-feeds] A channel's documents are written together (one flush to disk for all), each still atomically:
a reader sees a file whole, old or new; a crash before a file's rename leaves it as it was; nothing
temporary is left behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from syndication.publish import files
from syndication.publish.files import write_all, write_if_changed


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def test_writes_only_what_changed_and_reports_it(tmp_path: Path) -> None:
    a, b, c = tmp_path / "all.atom", tmp_path / "all.rss", tmp_path / "deep" / "er" / "all.json"
    assert write_all([(a, b"A1"), (b, b"B1"), (c, b"C1")]) == [True, True, True]
    assert (a.read_bytes(), b.read_bytes(), c.read_bytes()) == (b"A1", b"B1", b"C1")
    before = b.stat().st_mtime_ns, b.stat().st_ino
    assert write_all([(a, b"A2"), (b, b"B1"), (c, b"C2!")]) == [True, False, True]
    assert (b.stat().st_mtime_ns, b.stat().st_ino) == before  # an unchanged file is not touched
    assert (a.read_bytes(), c.read_bytes()) == (b"A2", b"C2!")
    assert oct(a.stat().st_mode & 0o777) == oct(0o644)
    assert write_if_changed(a, b"A2") is False and write_if_changed(a, b"") is True and a.read_bytes() == b""
    assert leftovers(tmp_path) == []


def test_every_file_is_flushed_to_disk_before_any_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    lock = threading.Lock()
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        with lock:
            events.append("fsync")

    def replace(src: str, dst: Path) -> None:
        events.append("rename " + Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    docs = [(tmp_path / f"p.{ext}", ext.encode() * 1000) for ext in ("atom", "rss", "json")]
    assert write_all(docs) == [True, True, True]
    assert events == ["fsync"] * 3 + ["rename p.atom", "rename p.rss", "rename p.json"]


def test_a_crash_between_write_and_rename_leaves_the_old_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [(tmp_path / f"p.{ext}", b"old " + ext.encode()) for ext in ("atom", "rss", "json")]
    write_all(docs)

    def crash(src: str, dst: Path) -> None:
        raise KeyboardInterrupt  # the process dies here: after every write and flush, before any rename

    monkeypatch.setattr(files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        write_all([(path, b"new, longer bytes " + data) for path, data in docs])
    assert [path.read_bytes() for path, _ in docs] == [data for _, data in docs]
    assert leftovers(tmp_path) == []


def test_a_failed_flush_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [(tmp_path / f"p.{ext}", b"old") for ext in ("atom", "rss")]
    write_all(docs)
    real_fsync = os.fsync
    calls = 0

    def failing(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", failing)
    with pytest.raises(OSError, match="No space"):
        write_all([(path, b"new") for path, _ in docs])
    assert [path.read_bytes() for path, _ in docs] == [b"old", b"old"]
    assert leftovers(tmp_path) == []


def test_a_rename_failing_midway_keeps_what_was_renamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [(tmp_path / f"p.{ext}", b"old") for ext in ("atom", "rss", "json")]
    write_all(docs)
    real_replace = os.replace

    def second_fails(src: str, dst: Path) -> None:
        if Path(dst).name == "p.rss":
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", second_fails)
    with pytest.raises(PermissionError):
        write_all([(path, b"new") for path, _ in docs])
    assert [path.read_bytes() for path, _ in docs] == [b"new", b"old", b"old"]
    assert leftovers(tmp_path) == []


def test_entries_are_read_back_only_from_the_file_as_it_was_written(tmp_path: Path) -> None:
    where = files.EntryFiles(1024 * 1024)
    doc, entries = tmp_path / "all.atom", [("k1", b"<entry>one</entry>\n"), ("k2", b"<entry>two</entry>\n")]
    data = b"<feed>\n" + b"".join(e for _, e in entries) + b"</feed>\n"
    write_all([(doc, data)])
    where.note(doc, data, entries)
    assert where.read("k1") == entries[0][1] and where.read("k2") == entries[1][1] and where.read("k3") is None
    write_all([(doc, data.replace(b"one", b"ONE"))])  # rewritten (a new file renamed over it): not read
    assert where.read("k1") is None and where.read("k2") is None
    where.note(doc, data + b"\n", entries)  # not the file's size: not the bytes written, nothing noted
    assert where.read("k1") is None
    doc.unlink()
    assert where.read("k2") is None


def test_an_entry_noted_after_another_publisher_replaced_the_file_is_not_read_back(tmp_path: Path) -> None:
    # Scaled mode: another process renames a same-size document (a one-letter correction) over ours between our
    # rename and the stat that notes our entries; the file's identity then matches, its bytes do not.
    where = files.EntryFiles(1024 * 1024)
    doc, ours = tmp_path / "all.json", [("k1", b'{"id":"1","title":"Teh title"}')]
    data = b"[" + ours[0][1] + b"]"
    write_all([(doc, data)])
    write_all([(doc, data.replace(b"Teh", b"The"))])
    where.note(doc, data, ours)
    assert where.read("k1") is None


def test_entry_locations_stay_within_their_byte_bound(tmp_path: Path) -> None:
    where = files.EntryFiles(100_000)
    doc = tmp_path / "p.json"
    entries = [(i, b"%06d," % i) for i in range(5_000)]
    data = b"".join(e for _, e in entries)
    write_all([(doc, data)])
    where.note(doc, data, entries)
    assert where._where.bytes <= 100_000 and len(where._where) < 5_000
    assert where.read(4_999) == b"004999," and where.read(0) is None  # the oldest went first
