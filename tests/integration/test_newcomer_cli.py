"""[newcomer] The command line as a new operator meets it, through the real CLI (Typer's runner), on a real
SQLite database and a real local HTTP feed server: --json everywhere, --version, tables readable when piped
and at 80 columns, `queues` in embedded mode, `partner list` wording, the empty public notices feed's date."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from lxml import etree
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from syndication.cli import common as cli_common
from syndication.cli.app import app
from syndication.db.models import Partner
from syndication.kernel.settings import load_settings
from syndication.runtime.context import open_runtime
from tests.conftest import FeedServer

runner = CliRunner()
A = "{http://www.w3.org/2005/Atom}"
BOX = set("│┃┆┇┊┋║─━┄┅┈┉═┏┓┗┛┡┩╇┳┻╋┼╭╮╰╯")
SERVERS = {"run", "web", "scheduler", "worker"}  # they log, they do not print a result

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Turan</title><link>https://turan.example/</link>
<description>news</description>
<item><title>Heavy snow in Guba</title><link>https://turan.example/1</link><guid>t-1</guid>
<pubDate>Tue, 01 Dec 2026 03:00:00 GMT</pubDate><description>Snow.</description></item>
</channel></rss>"""


def write_config(tmp_path: Path, feed_url: str) -> Path:
    path = tmp_path / "newcomer.toml"
    path.write_text(f"""
data_dir = "{tmp_path / 'var'}"
[fetch]
allow_private_addresses = true
[[partners]]
id = "turan"
name = "Turan News Agency"
credit = "Turan news agency"
[[partners.sources]]
kind = "feed"
url = "{feed_url}"
interval = 60
[[partners]]
id = "caspian"
name = "Caspian Wire"
credit = "Caspian Wire"
[[partners.sources]]
kind = "push"
""")
    return path


@pytest.fixture
def config(tmp_path: Path, feed_server: FeedServer) -> Path:
    url = feed_server.add_feed("/turan.rss", RSS, etag='"v1"')
    return write_config(tmp_path, url)


def invoke(config: Path, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(config), *args])


def walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group under `command` (Typer's own click: groups are known by their `commands`)."""
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += walk(sub, (*path, name))
    return found


def test_every_command_that_prints_takes_json() -> None:
    root = typer.main.get_command(app)
    missing = []
    for path, command in walk(root):
        if not path or path[-1] in SERVERS:
            continue
        if hasattr(command, "commands") and not command.invoke_without_command:
            continue  # `partner`, `source`: only a list of their subcommands
        if not any("--json" in p.opts for p in command.params):
            missing.append(" ".join(path))
    assert len(walk(root)) > 20  # the walk reached every command
    assert missing == []


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"syndication {version('syndication')}\n"


def test_source_commands_answer_json(config: Path) -> None:
    poll = invoke(config, "source", "poll", "1", "--json")
    assert poll.exit_code == 0, poll.output
    assert json.loads(poll.stdout) == {"source": 1, "action": "poll", "ok": True, "message": "source 1 polled: ok"}
    pause = invoke(config, "source", "pause", "1", "--json")
    assert json.loads(pause.stdout)["message"] == "source 1 paused"
    push = invoke(config, "source", "poll", "2", "--json")
    assert push.exit_code == 1
    assert json.loads(push.stdout) == {"source": 2, "action": "poll", "ok": False,
                                       "message": "source 2 is a push source: nothing to poll"}


def test_tables_are_plain_aligned_columns_when_piped(config: Path) -> None:
    assert invoke(config, "ingest").exit_code == 0
    result = invoke(config, "ingest")  # the feed answers 304 now
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert not BOX & set(result.stdout), result.stdout
    assert lines[0] == "Ingest"
    assert lines[1].split() == ["partner", "source", "status", "new", "updated", "unchanged", "rejected", "error"]
    assert len(lines) == 3 and lines[2].split()[0] == "turan" and lines[2].split()[2:7] == [
        "not_modified", "0", "0", "0", "0"]
    # Aligned: each column starts where its header does.
    assert lines[2].index("not_modified") == lines[1].index("status")
    status = invoke(config, "status")
    assert status.exit_code == 0 and not BOX & set(status.stdout), status.stdout
    assert all(len(line) == len(line.rstrip()) for line in status.stdout.splitlines())


def test_tables_fit_a_terminal_80_columns_wide(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(cli_common, "console", Console(file=screen, force_terminal=True, width=80, color_system=None))
    assert invoke(config, "ingest").exit_code == 0
    assert invoke(config, "ingest").exit_code == 0
    assert invoke(config, "failures").exit_code == 0
    assert invoke(config, "status").exit_code == 0
    # The progress line redraws itself with control sequences: each redraw is a line of its own.
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "\n", screen.getvalue())
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "not_modified" in text  # a state is never folded into `not_modi│fied`
    for header in ("partner", "status", "updated", "unchanged", "rejected", "last error"):
        assert re.search(rf"[┃│ ]{header} *[┃│]", text), header  # whole, on one line
    assert "Failed notice deliveries: none" in text  # not an empty table whose title wraps


def test_partner_list_names_a_push_source_plainly(config: Path) -> None:
    result = invoke(config, "partner", "list")
    assert result.exit_code == 0, result.output
    assert "push: push" not in result.stdout
    caspian = next(line for line in result.stdout.splitlines() if line.startswith("caspian"))
    assert caspian.rstrip().endswith("push API")
    turan = next(line for line in result.stdout.splitlines() if line.startswith("turan"))
    assert turan.rstrip().endswith("every 60 s") and "feed http://127.0.0.1:" in turan


def test_queues_in_embedded_mode_show_the_executors_work(config: Path) -> None:
    before = invoke(config, "queues", "--json")
    assert before.exit_code == 0, before.output
    state = json.loads(before.stdout)
    assert state["mode"] == "embedded" and state["running"] == 0
    depth = {q["queue"]: q["depth"] for q in state["queues"]}
    assert depth == {"poll": 1, "publish": 0, "notify": 0}  # the feed source is due: nothing polled it yet
    assert invoke(config, "ingest").exit_code == 0
    after = json.loads(invoke(config, "queues", "--json").stdout)
    assert {q["queue"]: q["depth"] for q in after["queues"]}["poll"] == 0
    table = invoke(config, "queues")
    assert table.exit_code == 0 and table.stdout.splitlines()[:2] == ["Queues (embedded)", "queue    depth  oldest"]


def test_empty_public_notices_feed_is_dated_from_the_data(config: Path) -> None:
    """No notice yet: <updated> is when the first partner was created, not 1970 and not the clock."""
    assert invoke(config, "publish", "--json").exit_code == 0
    settings = load_settings(config)
    rt = open_runtime(settings)
    try:
        with rt.sessions() as session:
            created = {p.id: p.created_at for p in session.scalars(select(Partner))}
    finally:
        rt.close()
    public = settings.public_dir / "notices" / "all.atom"
    first = public.read_bytes()
    updated = etree.fromstring(first).findtext(A + "updated")
    assert updated is not None and not updated.startswith("1970")
    assert abs((datetime.fromisoformat(updated.replace("Z", "+00:00")) - min(created.values())).total_seconds()) < 1
    partner_feed = etree.fromstring((settings.public_dir / "notices" / "caspian.atom").read_bytes())
    partner_updated = partner_feed.findtext(A + "updated")
    assert partner_updated is not None
    when = datetime.fromisoformat(partner_updated.replace("Z", "+00:00"))
    assert abs((when - created["caspian"]).total_seconds()) < 1
    assert invoke(config, "publish", "--json").exit_code == 0
    assert public.read_bytes() == first  # deterministic: the same data, the same bytes


def test_partner_add_takes_a_bound_on_the_interval(config: Path) -> None:
    added = invoke(config, "partner", "add", "apa", "--name", "APA", "--feed-url", "https://apa.example/rss",
                   "--interval", "120", "--max-interval", "600", "--json")
    assert added.exit_code == 0, added.output
    status = json.loads(invoke(config, "status", "--json").stdout)
    apa = next(s for s in status["sources"] if s["partner"] == "apa")
    assert (apa["configured_interval"], apa["max_interval"], apa["interval_reason"]) == (120, 600, None)
    too_far = invoke(config, "partner", "add", "apa", "--name", "APA", "--feed-url", "https://apa.example/rss",
                     "--max-interval", "7200")
    assert too_far.exit_code == 2
    assert "--max-interval 7200 is above fetch.max_interval (3600)" in too_far.output


def test_status_table_says_why_a_quiet_feed_is_polled_less_often(tmp_path: Path, feed_server: FeedServer) -> None:
    from email.utils import format_datetime

    from syndication.kernel.clock import utcnow

    two_hours_ago = format_datetime(utcnow().replace(microsecond=0) - timedelta(hours=2), usegmt=True)
    url = feed_server.add("/quiet.rss", RSS.replace("Tue, 01 Dec 2026 03:00:00 GMT", two_hours_ago),
                          content_type="application/rss+xml")  # no validators: a full answer every time
    config = write_config(tmp_path, url)
    assert invoke(config, "ingest").exit_code == 0  # the item is new: the configured interval
    assert invoke(config, "ingest").exit_code == 0  # nothing new, the newest two hours old
    result = invoke(config, "status")
    turan = next(line for line in result.stdout.splitlines() if " turan " in line)
    assert "feed every 240 s (configured 60 s: quiet feed: no new items for 2h 0m)" in turan
    row = next(s for s in json.loads(invoke(config, "status", "--json").stdout)["sources"] if s["partner"] == "turan")
    assert (row["interval"], row["configured_interval"], row["max_interval"]) == (240, 60, 240)
    assert row["interval_reason"] == "quiet feed: no new items for 2h 0m"
