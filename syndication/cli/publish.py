"""CLI commands of the [publish] area.

    syndication notices [--partner ID] [--state STATE] [--kind KIND] [--limit N] [--json]
    syndication notices retry NOTICE_ID...      requeue the failed deliveries of these notices
    syndication notices secret [--json]         print a fresh webhook signing secret (whsec_...)
    syndication notices pings [--state S] [--json] / pings retry [ID...]   WebSub ping deliveries
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from syndication.cli import common as cli
from syndication.kernel.clock import isoformat, utcnow

notices_app = typer.Typer(help="Republishing notices and their webhook deliveries.", invoke_without_command=True)

STATE_HELP = "Only notices with a delivery in this state (pending, retrying, delivered, failed)."


@notices_app.callback()
def notices_list(
    ctx: typer.Context,
    partner: Annotated[str | None, typer.Option("--partner", help="Only this partner's notices.")] = None,
    state: Annotated[str | None, typer.Option("--state", help=STATE_HELP)] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only notices of this kind.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """List notices (newest first) with the state of each webhook delivery."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select  # lazy: start-up: SQLAlchemy and the publish stack load only for this command

    from syndication.db.models import Delivery, Notice
    from syndication.publish.notices import KINDS
    from syndication.publish.webhooks import STATES

    if state is not None and state not in STATES:
        raise cli.fail(f"unknown state {state!r}; one of: {', '.join(STATES)}")
    if kind is not None and kind not in KINDS:
        raise cli.fail(f"unknown kind {kind!r}; one of: {', '.join(KINDS)}")
    rt = cli.runtime()
    try:
        with rt.sessions() as session:
            query = select(Notice).order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)
            if partner is not None:
                query = query.where(Notice.partner_id == partner)
            if kind is not None:
                query = query.where(Notice.kind == kind)
            if state is not None:
                query = query.where(Notice.id.in_(select(Delivery.notice_id).where(Delivery.state == state)))
            notices = list(session.scalars(query))
            deliveries: dict[int, list[Delivery]] = {}
            for d in session.scalars(select(Delivery).where(Delivery.notice_id.in_([n.id for n in notices]))
                                     .order_by(Delivery.id)):
                deliveries.setdefault(d.notice_id, []).append(d)
    finally:
        rt.close()
    rows: list[dict[str, Any]] = []
    for n in notices:
        rows.append({
            "id": n.id, "uid": n.uid, "kind": n.kind, "time": isoformat(n.created_at), "partner": n.partner_id,
            "partner_item_id": n.partner_item_id, "partner_item_url": n.partner_item_url, "item_id": n.item_uid,
            "item_version": n.item_version, "item_url": n.item_url, "title": n.title, "channels": n.channels,
            "attribution": n.attribution, "reason": n.reason, "action": n.action,
            "deliveries": [
                {"id": d.id, "endpoint": d.endpoint, "state": d.state, "attempts": d.attempts,
                 "last_status": d.last_status, "last_error": d.last_error,
                 "next_attempt": isoformat(d.next_attempt_at) if d.state in ("pending", "retrying") else None,
                 "delivered_at": isoformat(d.delivered_at) if d.delivered_at else None}
                for d in deliveries.get(n.id, [])
            ],
        })
    if as_json:
        cli.emit_json({"notices": rows})
        return
    from rich.text import Text

    from syndication.cli.listing import Column, listing, show  # lazy: Rich is not needed by --json

    show(cli.out(), listing(cli.out(), "Notices", [
        Column("id", justify="right"), "time", "kind", "partner", Column("title", wide=True), "action",
        Column("deliveries", wide=True)], (
        [str(r["id"]), r["time"], r["kind"], r["partner"], Text(r["title"] or ""), r["action"],
         Text(", ".join(f"{d['endpoint']}={d['state']}" for d in r["deliveries"]) or "-")] for r in rows)))


@notices_app.command("retry")
def notices_retry(
    ids: Annotated[list[int], typer.Argument(metavar="ID...", help="Notice ids (the `id` column).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Requeue the failed webhook deliveries of these notices (resubscribing endpoints that sent 410)."""
    from sqlalchemy import select  # lazy: start-up: SQLAlchemy and the publish stack load only for this command

    from syndication.db.models import Notice
    from syndication.publish.webhooks import retry

    rt = cli.runtime()
    try:
        with rt.sessions() as session:
            known = set(session.scalars(select(Notice.id).where(Notice.id.in_(ids))))
        missing = [i for i in ids if i not in known]
        if missing:
            raise cli.fail("unknown notice id(s): " + ", ".join(map(str, missing)))
        count = retry(rt.sessions, rt.settings, ids, utcnow())
    finally:
        rt.close()
    if as_json:
        cli.emit_json({"requeued": count})
        return
    sys.stdout.write(f"requeued {count} failed deliver{'y' if count == 1 else 'ies'}\n")


@notices_app.command("secret")
def notices_secret(as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False) -> None:
    """Print a fresh Standard Webhooks signing secret for a partner's or subscriber's `webhook_secret`."""
    from syndication.publish.signing import new_secret  # lazy: start-up: the publish stack loads only for this command

    secret = new_secret()
    if as_json:
        cli.emit_json({"secret": secret})
        return
    sys.stdout.write(secret + "\n")


pings_app = typer.Typer(help="WebSub pings to the hub and their delivery states.", invoke_without_command=True)
notices_app.add_typer(pings_app, name="pings")
PING_STATE_HELP = "Only pings in this state (pending, retrying, delivered, failed)."


@pings_app.callback()
def pings_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help=PING_STATE_HELP)] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """List WebSub pings (newest first): topic, state, attempts, last answer; and a count per state."""
    if ctx.invoked_subcommand is not None:
        return
    from sqlalchemy import select  # lazy: start-up: SQLAlchemy and the publish stack load only for this command

    from syndication.db.models import WebSubPing
    from syndication.publish.websub import STATES, counts

    if state is not None and state not in STATES:
        raise cli.fail(f"unknown state {state!r}; one of: {', '.join(STATES)}")
    rt = cli.runtime()
    try:
        with rt.sessions() as session:
            query = select(WebSubPing).order_by(WebSubPing.id.desc()).limit(limit)
            if state is not None:
                query = query.where(WebSubPing.state == state)
            pings = list(session.scalars(query))
        totals = counts(rt.sessions)
    finally:
        rt.close()
    rows = [{"id": p.id, "channel": p.channel_id, "topic": p.topic_url, "hub": p.hub_url, "state": p.state,
             "attempts": p.attempts, "last_status": p.http_status, "last_error": p.error,
             "created_at": isoformat(p.created_at), "last_attempt_at": isoformat(p.last_attempt_at),
             "next_attempt": isoformat(p.next_attempt_at) if p.state in ("pending", "retrying") else None,
             "delivered_at": isoformat(p.delivered_at)} for p in pings]
    if as_json:
        cli.emit_json({"counts": totals, "pings": rows})
        return
    from rich.text import Text

    from syndication.cli.listing import Column, listing, show  # lazy: Rich is not needed by --json

    show(cli.out(), listing(cli.out(), "WebSub pings " + ", ".join(f"{k}={v}" for k, v in totals.items()), [
        Column("id", justify="right"), Column("topic", wide=True), "state", Column("attempts", justify="right"),
        Column("last answer", wide=True), "next attempt"], (
        [str(r["id"]), Text(r["topic"]), r["state"], str(r["attempts"]),
         Text(r["last_error"] or (f"HTTP {r['last_status']}" if r["last_status"] else "-")), r["next_attempt"] or "-"]
        for r in rows)))


@pings_app.command("retry")
def pings_retry(
    ids: Annotated[list[int] | None, typer.Argument(metavar="[ID...]", help="Ping ids; every failed one when none.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Requeue failed WebSub pings for a fresh round of attempts."""
    from syndication.publish.websub import retry  # lazy: start-up: the publish stack loads only for this command

    rt = cli.runtime()
    try:
        count = retry(rt.sessions, ids or None, utcnow())
    finally:
        rt.close()
    if as_json:
        cli.emit_json({"requeued": count})
        return
    sys.stdout.write(f"requeued {count} failed ping{'' if count == 1 else 's'}\n")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `syndication` app."""
    app.add_typer(notices_app, name="notices")
