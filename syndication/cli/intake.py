"""CLI commands of the [intake] area."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from syndication.cli.common import emit_json, fail, settings


def check_feed(settings: Any, url: str) -> dict[str, Any]:
    """Fetch and parse a URL once, exactly as a poll would (guard, limits, redirects); store nothing."""
    # lazy: start-up: httpx, feedparser and lxml load only for `check-feed`
    from syndication.intake.documents import read_document
    from syndication.intake.fetch import FetchError, FetchPolicy, fetch
    from syndication.intake.parse import ParseError

    f = settings.fetch
    policy = FetchPolicy(
        allow_private_addresses=f.allow_private_addresses, connect_timeout=f.connect_timeout,
        read_timeout=f.read_timeout, max_body_bytes=f.max_body_bytes, max_redirects=f.max_redirects,
        user_agent=f.user_agent, per_host_concurrency=f.per_host_concurrency, total_timeout=f.total_timeout,
    )
    out: dict[str, Any] = {"url": url, "ok": False}
    t0 = time.perf_counter()
    try:
        result = fetch(url, policy)
    except FetchError as exc:
        out.update(status=exc.status, error=exc.reason, ms=round((time.perf_counter() - t0) * 1000))
        return out
    out.update(status=result.status, final_url=result.url, permanent_url=result.permanent_url,
               redirects=[[s, u] for s, u in result.redirects], content_type=result.headers.get("content-type"),
               bytes=len(result.body))
    try:
        parsed = read_document(result.body, result.headers, result.url, status=result.status)
    except ParseError as exc:
        out.update(error=str(exc), ms=round((time.perf_counter() - t0) * 1000))
        return out
    out.update(ok=True, format=parsed.format, title=parsed.title, entries=len(parsed.entries),
               partly_parsed=bool(parsed.problem), problem=parsed.problem, error=None,
               ms=round((time.perf_counter() - t0) * 1000))
    return out


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `syndication` app."""

    @app.command("check-feed")
    def check_feed_command(
        url: Annotated[str, typer.Argument(metavar="URL", help="Feed URL to try.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
    ) -> None:
        """Fetch and parse a feed URL once as a poll would (address guard, limits, redirects); store nothing."""
        from syndication.cli.common import console  # lazy: start-up: made (Rich imported) on first access

        out = check_feed(settings(), url)
        if as_json:
            emit_json(out)
            if not out["ok"]:
                raise typer.Exit(1)
            return
        if not out["ok"]:
            raise fail(str(out["error"]), code=1)
        console.print(f"{out['format']} feed {out['title']!r}: {out['entries']} entries, HTTP {out['status']}, "
                      f"{out['bytes']} bytes in {out['ms']} ms" + (f"; partly parsed: {out['problem']}"
                                                                    if out["partly_parsed"] else ""))
        if out["permanent_url"]:
            console.print(f"moved permanently to {out['permanent_url']}")
