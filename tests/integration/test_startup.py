"""Start-up: every command pays for what `syndication` imports before it runs, so the CLI imports what a
command needs when it needs it (each check in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import rss
from tests.conftest import REPO, FeedServer

HEAVY = ("sqlalchemy", "pydantic", "rich.console", "alembic", "celery", "httpx", "lxml", "feedparser", "nh3",
         "syndication.kernel.settings", "syndication.runtime.jobs", "syndication.pipeline", "syndication.publish")


# The modules a probe has imported (an entry set to None marks a module known absent: syndication/__init__.py).
LOADED = "\nimport json, sys\nprint(json.dumps(sorted(m for m, v in sys.modules.items() if v is not None)))\n"


def loaded_after(code: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> set[str]:
    probe = code + LOADED
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=cwd, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    return {h for h in HEAVY if h in modules or any(m.startswith(h + ".") for m in modules)}


def test_importing_the_cli_loads_none_of_the_stack() -> None:
    assert loaded_after("import syndication.cli.app") == set()


def test_help_loads_none_of_the_stack() -> None:
    code = ("from syndication.cli.app import app\n"
            "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n")
    assert loaded_after(code) - {"rich.console"} == set()  # Typer renders its help with Rich


def test_ingest_with_nothing_to_do_loads_only_settings_and_the_database(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    env["SYNDICATION_DATA_DIR"] = str(tmp_path / "var")
    code = ("from syndication.cli.app import app\n"
            "try:\n    app(['ingest', '--json'])\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n")
    for _ in ("fresh data dir", "existing data dir"):  # (no config/syndication.toml in tmp_path: no partners)
        assert loaded_after(code, env, cwd=tmp_path) == {"sqlalchemy", "pydantic", "syndication.kernel.settings"}


PARSE_STACK = ("feedparser", "jsonschema", "syndication.intake.parse", "syndication.intake.documents",
               "syndication.pipeline.normalise", "syndication.pipeline.credits")
# The publisher renders with lxml.html; a round with nothing to publish skips the publish step (jobs.publish_needed).
PUBLISH_STACK = ("lxml", "syndication.publish.publisher", "syndication.publish.feeds", "syndication.publish.notices",
                 "syndication.publish.webhooks")


def test_a_round_of_not_modified_polls_loads_no_parser(tmp_path: Path, feed_server: FeedServer) -> None:
    """A second `ingest` whose sources answer 304 reads no document and publishes nothing: the parsers, the
    normaliser and the publisher (half of its imports) are never loaded. The first `ingest` (200, items stored,
    published) loads them: the probe sees it."""
    import os

    url = feed_server.add_feed("/f.xml", rss(2), etag='"v1"')
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "syndication.toml").write_text(
        f'data_dir = "{tmp_path / "var"}"\n[fetch]\nallow_private_addresses = true\n'
        f'[[partners]]\nid = "p"\nname = "P"\n[[partners.sources]]\nkind = "feed"\nurl = "{url}"\n',
        encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    code = ("from syndication.cli.app import app\n"
            "try:\n    app(['ingest', '--json'])\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n")
    probe = code + LOADED

    def run() -> tuple[dict[str, int], set[str], set[str]]:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                              timeout=120, env=env)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        report = json.loads("\n".join(lines[:-1]))["sources"][0]
        modules = set(json.loads(lines[-1]))
        return report, *({m for m in stack if m in modules or any(x.startswith(m + ".") for x in modules)}
                         for stack in (PARSE_STACK, PUBLISH_STACK))

    first, loaded, published = run()
    assert (first["status"], first["new"]) == ("ok", 2)
    assert loaded >= {"feedparser", "syndication.pipeline.normalise"}
    assert published >= {"lxml", "syndication.publish.publisher"}
    assert (tmp_path / "var" / "public" / "feeds" / "partners" / "p.rss").is_file()  # the first round published
    again, loaded, published = run()
    assert (again["status"], again["new"]) == ("not_modified", 0)
    assert loaded == set() and published == set()


def test_fetching_loads_neither_httpx_command_line_client_nor_the_rate_limiter() -> None:
    """httpx imports its CLI (click, rich, pygments) unless told it is absent (syndication/__init__.py), and the
    fetch path holds host slots only: `limits` is the push API's and the web guards'."""
    code = "import syndication.intake.fetch, syndication.runtime.jobs, httpx\nassert callable(httpx.main)\n"
    probe = code + LOADED
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "httpx" in modules
    assert not {m for m in modules if m.split(".")[0] in ("click", "pygments", "limits", "multiprocessing")}


def test_start_up_runs_without_the_collector_and_the_command_with_it(tmp_path: Path) -> None:
    """`syndication` (main) turns the cyclic collector off while the command starts, and on again, with what
    start-up made frozen, once the runtime is open: a long `ingest` or `run` collects its own garbage."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNDICATION_")}
    env["SYNDICATION_DATA_DIR"] = str(tmp_path / "var")
    code = (
        "import gc, json, sys\n"
        "import syndication.runtime.context as context\n"
        "seen = {}\n"
        "opened = context.open_runtime\n"
        "def open_runtime(*a, **k):\n"
        "    seen['starting'] = gc.isenabled()\n"
        "    return opened(*a, **k)\n"
        "context.open_runtime = open_runtime\n"
        "closed = context.Runtime.close\n"
        "def close(self):\n"
        "    seen['working'], seen['frozen'] = gc.isenabled(), gc.get_freeze_count()\n"
        "    closed(self)\n"
        "context.Runtime.close = close\n"
        "from syndication.cli.app import main\n"
        "sys.argv = ['syndication', 'ingest', '--json']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(json.dumps(seen))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["starting"] is False
    assert seen["working"] is True and seen["frozen"] > 10_000


def test_the_app_called_in_process_leaves_the_collector_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests (and any caller of `app` other than main) keep their collector as it is: nothing frozen."""
    import gc

    from typer.testing import CliRunner

    from syndication.cli.app import app

    monkeypatch.chdir(tmp_path)  # no config/syndication.toml here: no partners
    before = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["ingest", "--json"], env={"SYNDICATION_DATA_DIR": str(tmp_path / "var")})
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == before
