"""The `syndication` command (Typer). Output: Rich tables on a terminal, JSON with --json.

Start-up is paid by every command, so this module and the area modules import only Typer at the top:
settings (pydantic), SQLAlchemy, Rich and the pipeline are imported by the commands that use them.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from syndication.settings import Settings

app = typer.Typer(help="Republish partner agencies' news, properly credited.", no_args_is_help=True,
                  add_completion=False)
partner_app = typer.Typer(help="Manage partners.", no_args_is_help=True)
app.add_typer(partner_app, name="partner")
# Area modules add subcommands to `partner` (e.g. `partner key`) through this handle.
app.partner_app = partner_app  # type: ignore[attr-defined]


def __getattr__(name: str) -> Any:
    """`console` and `err_console`, made on first use: Rich costs ~50 ms to import, and a command printing
    JSON never needs it."""
    if name in ("console", "err_console"):
        from rich.console import Console

        made = globals()[name] = Console(stderr=name == "err_console")
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def out() -> Console:
    """The stdout console (tests may replace `console`)."""
    return globals().get("console") or __getattr__("console")  # type: ignore[no-any-return]


def err() -> Console:
    return globals().get("err_console") or __getattr__("err_console")  # type: ignore[no-any-return]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


class State:
    config: str | None = None


_state = State()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"syndication {version('syndication')}\n")
        raise typer.Exit()


@app.callback()
def main_callback(
    config: Annotated[str | None, typer.Option("--config", help="TOML config file.", envvar=None)] = None,
    _show_version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                                callback=_version)] = False,
) -> None:
    _state.config = config


def fail(message: str, code: int = 2) -> typer.Exit:
    # Plain write: one line, never wrapped to the terminal width.
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def settings() -> Settings:
    from syndication.settings import ConfigError, load_settings  # on use: pydantic is not needed by --help

    try:
        return load_settings(_state.config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def runtime(s: Settings | None = None) -> Any:
    from syndication.runtime import open_runtime  # on use: the database stack is not needed by --help
    from syndication.settings import ConfigError

    try:
        return open_runtime(s or settings())
    except ConfigError as exc:
        raise fail(str(exc)) from None


def setup_logging(level: int | None = None) -> dict[str, Any]:
    """Text or JSON lines per settings.log; returns extra uvicorn.run kwargs (JSON: uvicorn logs via ours)."""
    from syndication.logs import configure
    from syndication.settings import ConfigError, load_settings  # on use: pydantic is not needed by --help

    try:
        cfg = load_settings(_state.config).log
    except ConfigError:
        from syndication.settings import LogSettings

        cfg = LogSettings()
    configure(cfg.format, level if level is not None else cfg.level)
    extra: dict[str, Any] = {"access_log": cfg.access}
    if cfg.format == "json":
        extra["log_config"] = None
    return extra


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.command()
def ingest(
    partners: Annotated[list[str] | None, typer.Argument(help="Partner ids (all when none).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Poll every source of the named partners now (concurrently, as the service does), publish once, print a
    summary."""
    from syndication.commands.ingest import run  # on use: it brings the pipeline

    run(partners or [], as_json=as_json)


@app.command()
def publish(as_json: JsonOpt = False) -> None:
    """Regenerate every channel now (exit 1, naming each, when a channel cannot be written)."""
    from syndication import jobs, ops

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
        from syndication.commands.listing import Column, listing, show  # on use: Rich is not needed by --json

        show(out(), listing(out(), "Publish", ["channel", "format", Column("items", justify="right"), "changed",
                                               Column("path", wide=True)],
                            ([r["channel"], r["format"], str(r["items"]), "yes" if r["changed"] else "no", r["path"]]
                             for r in rows)))
    if failing:
        for f in failing:
            err().print(f"error: {f['reason']}")
        raise typer.Exit(1)


def source_status(rt: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select  # on use: SQLAlchemy costs ~0.2 s, and --help needs none of it

    from syndication.clock import isoformat
    from syndication.db.models import Source
    from syndication.intake.credentials import describe_credentials
    from syndication.intake.decide import interval_bound

    rows = []
    with rt.sessions() as session:
        for s in session.scalars(select(Source).order_by(Source.partner_id, Source.id)):
            state = "disabled" if not s.enabled else ("failing" if s.consecutive_errors else "ok")
            rows.append({
                "partner": s.partner_id,
                "source": s.locator,
                "kind": s.kind,
                "state": state,
                "effective_url": s.effective_url or (s.locator if s.kind == "feed" else None),
                "interval": s.current_interval or s.interval,  # current (adaptive) interval, seconds
                "configured_interval": s.interval,  # what the operator asked for
                # How far a quiet source may be stretched (intake.decide.interval_bound), and why the next poll is
                # not `configured_interval` after the last: quiet feed, backoff after errors, Retry-After.
                "max_interval": interval_bound(s.interval, s.max_interval, rt.settings.fetch.max_interval),
                "interval_reason": s.interval_reason if s.kind != "push" else None,
                "last_attempt": isoformat(s.last_attempt_at),
                "last_success": isoformat(s.last_success_at),
                "last_error": s.last_error,
                "last_error_at": isoformat(s.last_error_at),
                "last_status": s.last_status,
                "consecutive_errors": s.consecutive_errors,
                "next_poll": isoformat(s.next_poll_at) if s.kind != "push" else None,
                "disabled_reason": s.disabled_reason,
                "parse_problem": s.parse_problem,
                "last_poll": s.last_counts,
                # [intake]: accepted = new + updated + unchanged; never any secret, only the auth scheme.
                "enabled": s.enabled,
                "partly_parsed": bool(s.parse_problem),
                "last_accepted": (s.last_counts or {}).get(
                    "accepted", sum((s.last_counts or {}).get(k, 0) for k in ("new", "updated", "unchanged"))),
                "last_rejected": (s.last_counts or {}).get("rejected", 0),
                "redirects": s.redirects or [],
                "credentials": describe_credentials(s.credentials),
            })
    return rows


# `status` lives in syndication/commands/operators.py (builds on source_status above).


def describe_source(source: dict[str, Any]) -> str:
    """One source as a newsroom reads it: `feed https://… every 300 s`, `push API`."""
    if source["kind"] == "push":
        return "push API"  # pushed by the partner: no locator, no interval
    return f"{source['kind']} {source['source']} every {source['interval']} s"


@partner_app.command("list")
def partner_list(as_json: JsonOpt = False) -> None:
    """List partners and their sources."""
    from sqlalchemy import select  # on use: SQLAlchemy costs ~0.2 s, and --help needs none of it

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

    from syndication.commands.listing import Column, listing, show  # on use: Rich is not needed by --json

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
    from syndication.partners import upsert_partner
    from syndication.settings import PartnerConfig, SourceConfig  # on use: pydantic is not needed by --help

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
    import uvicorn

    from syndication.dispatch import make_dispatcher
    from syndication.service import start_scheduler
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
    from syndication.dispatch import make_dispatcher
    from syndication.service import start_scheduler

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
    from syndication.commands import intake, operators, publish, push, scale

    for area in (intake, push, publish, operators, scale):
        area.register(app)


_register_areas()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
