"""The `syndication` command (Typer). Output: Rich tables on a terminal, JSON with --json.

Start-up is paid by every command, so this module and the area modules import only Typer at the top:
settings (pydantic), SQLAlchemy, Rich and the pipeline are imported by the commands that use them.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Annotated, Any

import typer

from syndication.cli.common import (
    JsonOpt,
    _state,
    emit_json,
    err,
    fail,
    hold_collections,
    out,
    runtime,
    settings,
    settle,
    setup_logging,
)

app = typer.Typer(help="Republish partner agencies' news, properly credited.", no_args_is_help=True,
                  add_completion=False)
partner_app = typer.Typer(help="Manage partners.", no_args_is_help=True)
app.add_typer(partner_app, name="partner")
# Area modules add subcommands to `partner` (e.g. `partner key`) through this handle.
app.partner_app = partner_app  # type: ignore[attr-defined]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # lazy: only --version reads the installed metadata

        sys.stdout.write(f"syndication {version('syndication')}\n")
        raise typer.Exit()


@app.callback()
def main_callback(
    config: Annotated[str | None, typer.Option("--config", help="TOML config file.", envvar=None)] = None,
    _show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                                callback=_version)] = False,
) -> None:
    _state.config = config


@app.command()
def ingest(
    partners: Annotated[list[str] | None, typer.Argument(help="Partner ids (all when none).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll every source of the named partners now (concurrently, as the service does), publish once, print a
    summary."""
    from syndication.cli.ingest import run  # lazy: it brings the pipeline

    run(partners or [], as_json=as_json)


@app.command()
def publish(as_json: JsonOpt = False) -> None:
    """Regenerate every channel now (exit 1, naming each, when a channel cannot be written)."""
    from syndication.operations import ops  # lazy: start-up: the pipeline loads only for this command
    from syndication.runtime import jobs

    rt = runtime()
    try:
        results = jobs.publish_all(rt)
        failing = ops.publishing(rt)["failing"]
    finally:
        rt.close()
    rows: list[dict[str, Any]] = [
        {"channel": r.channel, "format": r.format, "path": r.path, "items": r.items, "changed": r.changed}
        for r in results
    ]
    if as_json:
        emit_json({"channels": rows, "failures": failing})
    else:
        from syndication.cli.listing import Column, listing, show  # lazy: Rich is not needed by --json

        show(out(), listing(out(), "Publish", ["channel", "format", Column("items", justify="right"), "changed",
                                               Column("path", wide=True)],
                            ([r["channel"], r["format"], str(r["items"]), "yes" if r["changed"] else "no", r["path"]]
                             for r in rows)))
    if failing:
        for f in failing:
            err().print(f"error: {f['reason']}")
        raise typer.Exit(1)


# `status` lives in syndication/cli/operators.py (builds on ops.source_status).


def describe_source(source: dict[str, Any]) -> str:
    """One source as a newsroom reads it: `feed https://… every 300 s`, `push API`."""
    if source["kind"] == "push":
        return "push API"  # pushed by the partner: no locator, no interval
    return f"{source['kind']} {source['source']} every {source['interval']} s"


@partner_app.command("list")
def partner_list(as_json: JsonOpt = False) -> None:
    """List partners and their sources."""
    from sqlalchemy import select  # lazy: SQLAlchemy costs ~0.2 s, and --help needs none of it

    from syndication.db.models import Partner, Source

    rt = runtime()
    try:
        with rt.sessions() as session:
            sources: dict[str, list[dict[str, Any]]] = {}
            for s in session.scalars(select(Source).order_by(Source.id)):
                sources.setdefault(s.partner_id, []).append(
                    {"kind": s.kind, "source": s.locator, "interval": s.interval, "enabled": s.enabled})
            rows: list[dict[str, Any]] = [{"id": p.id, "name": p.name, "homepage": p.homepage, "credit": p.credit,
                     "license_url": p.license_url, "usage_terms": p.usage_terms, "sources": sources.get(p.id, [])}
                    for p in session.scalars(select(Partner).order_by(Partner.id))]
    finally:
        rt.close()
    if as_json:
        emit_json({"partners": rows})
        return
    from rich.text import Text

    from syndication.cli.listing import Column, listing, show  # lazy: Rich is not needed by --json

    show(out(), listing(out(), "Partners", ["id", Column("name", wide=True), Column("credit", wide=True),
                                            Column("sources", wide=True)],
                        ([r["id"], Text(r["name"]), Text(r["credit"] or ""),
                          Text("\n".join(map(describe_source, r["sources"])))] for r in rows)))


@partner_app.command("add")
def partner_add(
    partner_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str, typer.Option("--name")],
    feed_url: Annotated[str | None, typer.Option("--feed-url")] = None,
    interval: Annotated[int, typer.Option("--interval")] = 300,
    max_interval: Annotated[int | None, typer.Option(
        "--max-interval", help="Poll a quiet feed at most this often (default 4 x interval, within "
                               "fetch.max_interval).")] = None,
    credit: Annotated[str | None, typer.Option("--credit")] = None,
    license_url: Annotated[str | None, typer.Option("--license-url")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add (or update) a partner, optionally with a feed source."""
    from pydantic import ValidationError

    from syndication.db.session import transaction
    from syndication.kernel.settings import PartnerConfig, SourceConfig  # lazy: pydantic is not needed by --help
    from syndication.partners.registry import upsert_partner

    try:
        sources = ([SourceConfig(kind="feed", url=feed_url, interval=interval, max_interval=max_interval)]
                   if feed_url else [])
        cfg = PartnerConfig(id=partner_id, name=name, credit=credit, license_url=license_url, sources=sources)
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise fail(msg) from None
    s = settings()
    if max_interval is not None and max_interval > s.fetch.max_interval:
        raise fail(f"--max-interval {max_interval} is above fetch.max_interval ({s.fetch.max_interval}); "
                   "raise that too")
    rt = runtime(s)
    try:
        with transaction(rt.sessions) as session:
            upsert_partner(session, cfg)
    finally:
        rt.close()
    if as_json:
        emit_json({"partner": partner_id, "sources": [s.locator for s in sources]})
    else:
        out().print(f"partner {partner_id} saved" + (f" with feed {feed_url}" if feed_url else ""))


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


def _serve(host: str, port: int, *, with_scheduler: bool) -> None:
    """Run the HTTP app; with the scheduler too in the embedded role."""
    import uvicorn  # lazy: start-up: uvicorn, the web stack and the scheduler load only for `run`/`web`

    from syndication.operations.service import start_scheduler
    from syndication.runtime.dispatch import make_dispatcher
    from syndication.web.app import create_app

    log_args = setup_logging()
    rt = runtime()
    rt.dispatcher = make_dispatcher(rt)
    sched = start_scheduler(rt) if with_scheduler else None
    logging.getLogger("syndication").info(
        "%s on http://%s:%d (database %s, data dir %s)", "embedded service" if with_scheduler else "web", host, port,
        rt.engine.url.render_as_string(hide_password=True), rt.settings.data_dir)
    try:
        uvicorn.run(create_app(rt), host=host, port=port, log_level="info", **log_args)
    finally:
        if sched is not None:
            sched.shutdown(wait=False)
        rt.close()


@app.command()
def run(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """The embedded service: HTTP + scheduler + in-process executor, one process."""
    _serve(host, port, with_scheduler=True)


@app.command()
def web(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """Scaled-out role: the HTTP server only (feeds, API, ops)."""
    _serve(host, port, with_scheduler=False)


@app.command()
def scheduler() -> None:
    """Scaled-out role: claim due sources by lease and dispatch them (several may run at once)."""
    # lazy: start-up: the scheduler and dispatcher load only for this command
    from syndication.operations.service import start_scheduler
    from syndication.runtime.dispatch import make_dispatcher

    setup_logging()
    rt = runtime()
    if rt.settings.embedded:
        logging.getLogger("syndication").warning("no broker_url set: dispatching to this process's executor")
    rt.dispatcher = make_dispatcher(rt)
    sched = start_scheduler(rt)
    try:
        _wait_for_signal()
    finally:
        sched.shutdown(wait=False)
        rt.close()


def _register_areas() -> None:
    # lazy: start-up: main() registers the areas, so importing the app loads none of them
    from syndication.cli import intake, operators, publish, push, scale

    for area in (intake, push, publish, operators, scale):
        area.register(app)


_register_areas()


def main() -> None:
    hold_collections()  # until the command has its runtime (common.settle)
    try:
        app()
    finally:
        settle()  # and before the interpreter's last collection at exit


if __name__ == "__main__":
    main()
