"""`syndication ingest`: poll the partners' sources now, as the service does, and publish once.

The sources are claimed together (one round of polls, syndication.runtime.rounds: a running service defers its own
publishing until the round ends) and polled on `schedule.executor_threads` threads; `fetch.per_host_concurrency`
still bounds the requests in flight per host, and with `schedule.parse_processes` > 0 the parse processes
take the parsing, normalising and fingerprinting (syndication.runtime.cpu). The channels are published once, after the
last poll, when anything is to be published (jobs.publish_needed). On a terminal a Rich progress line counts sources
done and items stored; never with --json, and never when stdout is not a terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from syndication.cli import common as cli
from syndication.db.models import Partner, Source
from syndication.kernel.clock import utcnow

if TYPE_CHECKING:
    from rich.console import Console

    from syndication.runtime.context import Runtime

COLOURS = {"ok": "green", "not_modified": "cyan", "error": "red"}


def error_report(partner: str, source: str, error: str) -> dict[str, Any]:
    return {"partner": partner, "source": source, "status": "error", "new": 0, "updated": 0, "unchanged": 0,
            "rejected": 0, "error": error}


def run(partners: list[str], *, as_json: bool) -> None:

    rt = cli.runtime()
    try:
        sources = _sources(rt, partners)
        reports = poll_round(rt, sources, progress_on=None if as_json else cli.out()) if sources else []
    finally:
        rt.close()
    if as_json:
        cli.emit_json({"sources": reports})
        return
    from rich.text import Text

    from syndication.cli.listing import Column, listing, show  # lazy: Rich is not needed by --json

    console = cli.out()
    table = listing(console, "Ingest", [
        "partner", Column("source", wide=True), "status",
        *(Column(k, justify="right") for k in ("new", "updated", "unchanged", "rejected")), Column("error", wide=True)])
    for r in reports:
        table.add_row(r["partner"], Text(r["source"]), Text(r["status"], style=COLOURS[r["status"]]),
                      *(str(r[k]) for k in ("new", "updated", "unchanged", "rejected")), Text(r["error"] or ""))
    show(console, table)


def _sources(rt: Runtime, partners: list[str]) -> list[tuple[int, str, str]]:
    """(id, partner, locator) of every polled source of the partners (all when none), in a stable order."""

    with rt.sessions() as session:
        known = set(session.scalars(select(Partner.id)))
        for pid in partners:
            if pid not in known:
                raise cli.fail(f"unknown partner {pid!r}")
        query = select(Source.id, Source.partner_id, Source.locator).where(Source.kind != "push")
        if partners:
            query = query.where(Source.partner_id.in_(partners))
        return [(sid, pid, loc) for sid, pid, loc in session.execute(query.order_by(Source.partner_id, Source.id))]


def poll_round(rt: Runtime, sources: list[tuple[int, str, str]], progress_on: Console | None) -> list[dict[str, Any]]:
    """Claim the sources as one round, poll them concurrently, publish once; the reports in source order."""
    with cli.loading():
        from syndication.runtime import (
            cpu,  # lazy: an ingest with nothing to poll needs none of the pipeline
            jobs,
        )
        from syndication.runtime.schedule import claim_sources, holder_for

    # Holder: if this command dies, a service started on the same data dir takes the leases back at once.
    tokens = dict(claim_sources(rt.sessions, [sid for sid, _, _ in sources], utcnow(),
                                lease_seconds=rt.settings.schedule.lease_seconds, holder=holder_for(rt.settings)))
    reports: dict[int, dict[str, Any]] = {
        sid: error_report(pid, loc, "source is being polled by another process")
        for sid, pid, loc in sources if sid not in tokens
    }
    cpu.attach(rt)  # parse processes when schedule.parse_processes > 0 (embedded settings only)
    # Threads: on the 112 real feeds (one process) the CPU time is the same with 1, 2, 4 or 8 threads (11.2-12.2 s,
    # within noise: no measurable GIL or write-lock cost), while 1 thread takes 20-22 s of wall against 12-16 s for
    # 2-8 (fetches wait behind parsing). Each poll takes the write lock once (jobs._store_and_finish), so a single
    # batching writer would save little: the default, 4, stays.
    with _progress(progress_on, len(sources)) as advance, \
            ThreadPoolExecutor(rt.settings.schedule.executor_threads, thread_name_prefix="poll") as pool:
        for _ in range(len(reports)):
            advance(0)
        running: dict[Future[Any], tuple[int, str, str]] = {
            pool.submit(jobs.poll_source, rt, sid, tokens[sid]): (sid, pid, loc)
            for sid, pid, loc in sources if sid in tokens
        }
        for fut in as_completed(running):
            sid, pid, loc = running[fut]
            try:
                report = fut.result()
            except Exception as exc:  # poll_source records what it can; this is the database itself failing
                reports[sid] = error_report(pid, loc, f"internal error: {exc.__class__.__name__}: {exc}")
                advance(0)
                continue
            if report is not None:  # None: the source vanished, or its lease was taken (nothing to say)
                reports[sid] = report.as_dict()
            advance(report.new + report.updated if report is not None else 0)
        advance(None)  # the polls are done: publishing
        # Only when there is something to publish: a round with nothing new (all 304s, all unchanged) never
        # imports the publishing stack (~130 ms). What is owed from before (marks, failed channels due, rights
        # terms changed) is published as before.
        jobs.release_embargoes(rt)
        if jobs.publish_needed(rt):
            jobs.publish_dirty(rt)
    return [reports[sid] for sid, _, _ in sources if sid in reports]


@contextmanager
def _progress(console: Console | None, total: int) -> Iterator[Any]:
    """advance(n): one more source done, n more items stored; advance(None): the publishing step."""
    if console is None or not console.is_terminal:
        yield lambda _n: None
        return
    # lazy: start-up: Rich costs ~50 ms to import, and is not needed off a terminal.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("sources"),
                  TextColumn("{task.fields[items]} items"), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        task = progress.add_task("Polling", total=total, items=0)
        items = 0

        def advance(n: int | None) -> None:
            nonlocal items
            if n is None:
                progress.update(task, description="Publishing")
                return
            items += n
            progress.update(task, advance=1, items=items)

        yield advance
