"""CLI commands of the [operators] area: status (--json, --watch), failures, replay, pause/resume/poll."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from syndication.cli import common as cli
from syndication.kernel.clock import human_age

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.text import Text

    from syndication.cli.listing import Listing

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
STATE_COLOURS = {"ok": "green", "failing": "red", "disabled": "yellow", "quiet": "magenta"}


def _age(iso: str | None, now: float) -> str:

    if not iso:
        return "-"
    t = datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    delta = now - t
    return f"{human_age(delta)} ago" if delta >= 0 else f"in {human_age(-delta)}"


def render_status(snap: dict[str, Any], *, terminal: bool = True) -> Group:
    """The Rich view of an ops snapshot: sources, pipeline, queues, failures (plain columns off a terminal)."""
    # lazy: start-up: Rich is not needed by `status --json` (what scripts run every few seconds).
    from rich.console import Group
    from rich.text import Text

    from syndication.cli.listing import Column, Listing

    now = time.time()
    sources = Listing(f"Sources ({snap['mode']} mode, {snap['generated_at']})", [
        Column("id", justify="right"), "partner", "state", Column("polls", wide=True), Column("err", justify="right"),
        Column("24h", justify="right"), Column("source", wide=True), Column("last error", wide=True)],
        terminal=terminal)
    for r in snap["sources"]:
        colour = STATE_COLOURS.get(r["state"], "white")
        state = Text(r["state"], style=colour)
        if r.get("paused"):
            state.append("\npaused")
        if r.get("overdue"):
            state.append("\noverdue", style="red")
        polls = (f"attempt {_age(r['last_attempt'], now)}\nsuccess {_age(r['last_success'], now)}\n"
                 f"next {_age(r['next_poll'], now)}")
        where = r.get("effective_url") or r["source"]
        if r.get("websub"):  # [wire] its WebSub subscription, and why it fell back to polling alone
            hub = r["websub"]
            where += f"\nWebSub {hub['state']}" + (f": {hub['last_error']}" if hub["state"] != "active"
                                                   and hub["last_error"] else "")
        sources.add_row(str(r.get("id", "")), r["partner"], state, polls, str(r["consecutive_errors"]),
                        str(r.get("items_24h", "")),
                        Text(describe_interval(r) + ("" if r["kind"] == "push" else f"\n{where}")),
                        Text(r["last_error"] or ""))
    pipe = Listing("Pipeline (received / updated / rejected / published)", ["partner", "1 h", "24 h"],
                   terminal=terminal)
    for p in snap["pipeline"]["partners"]:
        pipe.add_row(p["partner"], *(
            f"{p[f'received_{w}']} / {p[f'updated_{w}']} / {p[f'rejected_{w}']} / {p[f'published_{w}']}"
            for w in ("1h", "24h")))
    lag = snap["pipeline"]["lag_seconds"]
    lag_line = Text(
        f"lag to first seen p50 {human_age(lag['first_seen']['p50'])}, p95 {human_age(lag['first_seen']['p95'])}; "
        f"to republished p50 {human_age(lag['republished']['p50'])}, p95 {human_age(lag['republished']['p95'])}; "
        f"overdue sources: {len(snap['pipeline']['overdue'])}")
    q = snap["queues"]
    queues = render_queues(q, terminal=terminal)
    extra = Text(f"running: {q.get('running')}")
    if q.get("workers") is not None:
        extra.append(f"; workers online: {len(q['workers'])} ({', '.join(q['workers'])})")
    if q.get("error"):
        extra.append(f"; {q['error']}", style="red")
    dls = snap["failures"]["dead_letters"]
    fail_line = Text(f"dead letters waiting: {len(dls)}; failed deliveries: "
                     f"{len(snap['failures']['deliveries']['items'])}", style="red" if dls else "")
    return Group(sources, pipe, lag_line, render_publishing(snap["publishing"], terminal=terminal), queues, extra,
                 fail_line)


def describe_interval(row: dict[str, Any]) -> str:
    """`feed every 300 s`, or with the reason the current interval is not the configured one."""
    if row["kind"] == "push":
        return "push API"
    text = f"{row['kind']} every {row.get('interval')} s"
    reason = row.get("interval_reason")
    if reason:
        text += f" (configured {row.get('configured_interval')} s: {reason})"
    return text


def render_queues(q: dict[str, Any], *, terminal: bool) -> Listing:
    from syndication.cli.listing import Column, Listing  # lazy: start-up: Rich is not needed by --json

    table = Listing(f"Queues ({q.get('mode')})", ["queue", Column("depth", justify="right"),
                                                   Column("oldest", justify="right")], terminal=terminal)
    for row in q.get("queues", []):
        age = row.get("oldest_age_seconds")
        table.add_row(row["queue"], str(row["depth"]), "-" if age is None else f"{age:.0f}s")
    return table


def render_publishing(pub: dict[str, Any], *, terminal: bool = True) -> Listing | Text:
    """Channels that cannot be published (red), or one green line; and notices waiting for their channels."""
    from rich.text import Text  # lazy: `status --json` never renders

    from syndication.cli.listing import Column, Listing

    waiting = pub["pending_notices"]
    wait_text = (f"; {waiting['count']} notice(s) waiting for their channels"
                 + (f" (oldest {waiting['oldest_seconds']:.0f}s)" if waiting.get("oldest_seconds") else "")
                 if waiting["count"] else "")
    if not pub["failing"]:
        return Text(f"Publishing: every channel written{wait_text}", style="green")
    table = Listing(f"Publishing FAILING{wait_text}", ["channel", "failing since", Column("attempts", justify="right"),
                    Column("total", justify="right"), "next retry", Column("last error", wide=True)],
                    terminal=terminal, title_style="bold red")
    now = time.time()
    for f in pub["failing"]:
        table.add_row(f["channel"], _age(f["failing_since"], now), str(f["consecutive_failures"]),
                      str(f["failures_total"]), _age(f["next_retry_at"], now), Text(f["last_error"] or "", style="red"))
    return table


def render_failures(data: dict[str, Any], console: Console) -> None:
    """Print channels failing to publish, dead letters and failed notice deliveries."""
    from rich.text import Text  # lazy: start-up: Rich is not needed by --json

    from syndication.cli.listing import Column, listing, show  # lazy: start-up: Rich is not needed by --json

    parts: list[Any] = []
    if data["publishing"]:
        parts.append(listing(console, "Channels that cannot be published (retried with backoff)", [
            "channel", "failing since", Column("attempts", justify="right"), Column("total", justify="right"),
            "next retry", Column("last error", wide=True)], (
            [f["channel"], f["failing_since"], str(f["consecutive_failures"]), str(f["failures_total"]),
             f["next_retry_at"] or "-", Text(f["last_error"] or "")] for f in data["publishing"]),
            title_style="bold red"))
    else:
        parts.append(Text("Publishing: no channel failing"))
    if data["dead_letters"]:
        parts.append(listing(console, "Dead letters", [
            Column("id", justify="right"), "task", Column("args", wide=True), Column("attempts", justify="right"),
            "created", "replayed", Column("error", wide=True)], (
            [str(d["id"]), d["task"], Text(str(d["args"])), str(d["attempts"]), d["created_at"],
             d["replayed_at"] or "-", Text(d["error"])] for d in data["dead_letters"])))
    else:
        parts.append(Text("Dead letters: none"))
    deliveries = data["deliveries"]
    if not deliveries["available"]:
        parts.append(Text(f"Failed deliveries: {deliveries['note']}"))
    elif not deliveries["items"]:
        parts.append(Text("Failed notice deliveries: none"))
    else:
        keys = list(deliveries["items"][0])
        parts.append(listing(console, "Failed notice deliveries", [Column(k, wide=True) for k in keys],
                             ([Text(str(row.get(k, ""))) for k in keys] for row in deliveries["items"])))
    show(console, *parts)


def _act(action: str, source_id: int, as_json: bool) -> None:
    """Poll, pause or resume one source (the `source` commands)."""
    from syndication.operations import ops  # lazy: start-up: the database stack loads only for this command

    rt = cli.runtime()
    try:
        paused = action == "pause"
        msg = ops.poll_now(rt, source_id) if action == "poll" else ops.set_paused(rt, source_id, paused)
    except ops.OpsError as exc:
        if as_json:
            cli.emit_json({"source": source_id, "action": action, "ok": False, "message": str(exc)})
            raise typer.Exit(1) from None
        raise cli.fail(str(exc), 1) from None
    finally:
        rt.close()
    if as_json:
        cli.emit_json({"source": source_id, "action": action, "ok": True, "message": msg})
        return
    cli.out().print(msg, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `syndication` app."""
    @app.command()
    def status(
        as_json: JsonOpt = False,
        watch: Annotated[float | None, typer.Option("--watch", help="Refresh every N seconds (Ctrl-C stops).",
                                                    min=0.5)] = None,
    ) -> None:
        """Each source's health, the pipeline, queues and failures."""
        from syndication.operations import ops  # lazy: start-up: the database stack loads only for this command

        if watch is not None and as_json:
            raise cli.fail("--watch and --json cannot be combined")
        rt = cli.runtime()
        try:
            if watch is None:
                snap = ops.snapshot(rt)
                if as_json:
                    cli.emit_json(snap)
                else:
                    from syndication.cli.listing import show  # lazy: start-up: Rich is not needed by --json

                    show(cli.out(), render_status(snap, terminal=cli.out().is_terminal))
                return
            from rich.live import Live  # lazy: start-up: Rich is not needed by --json

            try:
                with Live(render_status(ops.snapshot(rt)), console=cli.console, auto_refresh=False,
                          screen=False) as live:
                    while True:
                        time.sleep(watch)
                        live.update(render_status(ops.snapshot(rt)), refresh=True)
            except KeyboardInterrupt:
                pass
        finally:
            rt.close()

    @app.command()
    def failures(as_json: JsonOpt = False,
                 all_: Annotated[bool, typer.Option("--all", help="Include replayed dead letters.")] = False) -> None:
        """Dead letters, failed notice deliveries, and channels that cannot be published."""
        from syndication.operations import ops  # lazy: start-up: the database stack loads only for this command

        rt = cli.runtime()
        try:
            data: dict[str, Any] = {"dead_letters": ops.dead_letters(rt, include_replayed=all_),
                    "deliveries": ops.failed_deliveries(rt), "publishing": ops.publishing(rt)["failing"]}
        finally:
            rt.close()
        if as_json:
            cli.emit_json(data)
            return
        render_failures(data, cli.out())

    @app.command()
    def replay(ids: Annotated[list[int], typer.Argument(metavar="ID...", help="Dead letter ids.")],
               as_json: JsonOpt = False) -> None:
        """Re-dispatch dead-lettered tasks (embedded: run them here) and mark them replayed."""
        from syndication.operations import ops  # lazy: start-up: the database stack loads only for this command
        from syndication.runtime.dispatch import make_dispatcher

        rt = cli.runtime()
        results: list[dict[str, Any]] = []
        failed = False
        try:
            if not rt.settings.embedded:
                rt.dispatcher = make_dispatcher(rt)
            for dl_id in ids:
                try:
                    results.append({"id": dl_id, "ok": True, "message": ops.replay(rt, dl_id)})
                except ops.OpsError as exc:
                    failed = True
                    results.append({"id": dl_id, "ok": False, "message": str(exc)})
        finally:
            rt.close()
        if as_json:
            cli.emit_json({"replayed": results})
        else:
            for r in results:
                (cli.console if r["ok"] else cli.err_console).print(("" if r["ok"] else "error: ") + r["message"])
        if failed:
            raise typer.Exit(1)

    source_app = typer.Typer(help="Operate on sources: poll now, pause, resume.", no_args_is_help=True)
    app.add_typer(source_app, name="source")

    @source_app.command("poll")
    def source_poll(source_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
        """Poll a source now."""
        _act("poll", source_id, as_json)

    @source_app.command("pause")
    def source_pause(source_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
        """Stop polling a source until resumed."""
        _act("pause", source_id, as_json)

    @source_app.command("resume")
    def source_resume(source_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonOpt = False) -> None:
        """Resume a paused (or disabled) source and poll it at once."""
        _act("resume", source_id, as_json)
