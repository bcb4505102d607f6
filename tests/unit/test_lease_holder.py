"""[hardening] Lease holders: a restarted embedded process takes back only leases it can prove were held by
a dead earlier process of the same installation."""

from __future__ import annotations

import os
from pathlib import Path

from syndication.kernel.settings import load_settings
from syndication.runtime.schedule import Holder, boot_id, holder_for, predecessor_gone, process_start, this_process

ME = Holder("newsroom-1", "boot-a", 4242, "900", "data1")


def gone(holder: Holder, running: dict[int, str]) -> bool:
    return predecessor_gone(holder, ME, running.get)


def test_a_predecessor_is_gone_when_its_pid_runs_no_more_or_names_a_newer_process() -> None:
    old = Holder("newsroom-1", "boot-a", 1000, "500", "data1")
    assert gone(old, {})  # no such process
    assert gone(old, {1000: "880"})  # pid reused by a process started later
    assert not gone(old, {1000: "500"})  # still running: never take its leases
    assert gone(Holder("newsroom-1", "boot-0", 1000, "500", "data1"), {1000: "500"})  # the machine booted since


def test_nothing_is_taken_that_cannot_be_proved_ours() -> None:
    assert not gone(Holder("newsroom-2", "boot-a", 1000, "500", "data1"), {})  # another host
    assert not gone(Holder("newsroom-1", "boot-a", 1000, "500", "data2"), {})  # another installation
    assert not gone(Holder("newsroom-1", "", 1000, "500", "data1"), {})  # no boot id: cannot tell
    assert not gone(Holder("newsroom-1", "boot-a", 1000, "", "data1"), {})  # no start time: cannot tell
    assert not gone(ME, {})  # our own leases


def test_holder_text_round_trip_and_garbage() -> None:
    assert Holder.parse(str(ME)) == ME
    assert Holder.parse("") is None and Holder.parse("v2|a|b|1|2|3") is None and Holder.parse("v1|a|b|x|2|3") is None


def test_this_process_reads_proc(tmp_path: Path) -> None:
    me = this_process(tmp_path)
    assert me.pid == os.getpid()
    if Path("/proc/self/stat").exists():
        assert me.boot == boot_id() and me.boot
        assert me.start == process_start(os.getpid()) and me.start.isdigit()
        assert process_start(2**22 + 12345) is None
    assert this_process(tmp_path / ".." / tmp_path.name).data == me.data  # the same dir, spelt differently
    assert this_process(tmp_path / "other").data != me.data


def test_process_start_handles_command_names_with_parentheses(tmp_path: Path) -> None:
    (tmp_path / "77").mkdir()
    fields = ["S", *[str(i) for i in range(4, 22)], "123456", "0"]
    (tmp_path / "77" / "stat").write_text(f"77 (odd) name) {' '.join(fields)}\n")  # the name is "odd) name"
    assert process_start(77, proc=tmp_path) == "123456"


def test_only_embedded_mode_records_a_holder(tmp_path: Path) -> None:
    embedded = load_settings(None, data_dir=str(tmp_path))
    assert Holder.parse(holder_for(embedded) or "") == this_process(tmp_path)
    assert holder_for(load_settings(None, data_dir=str(tmp_path), broker_url="redis://127.0.0.1:6379/0")) is None
