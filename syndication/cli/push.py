"""CLI commands of the push-API area: `syndication partner key PARTNER_ID [--revoke [--prefix P]] [--json]`."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from syndication.cli import common as cli
from syndication.kernel.clock import isoformat, utcnow


def key_command(
    partner_id: Annotated[str, typer.Argument(metavar="PARTNER_ID")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Revoke the partner's keys instead of issuing one.")] = False,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="With --revoke: only the key with this public prefix.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
) -> None:
    """Issue a new push-API key for a partner (printed once, only its hash is kept), or revoke keys."""
    from sqlalchemy import select  # lazy: SQLAlchemy costs ~0.2 s, and `--help` needs none of it

    from syndication.db.models import Partner, Source
    from syndication.db.session import transaction
    from syndication.partners.keys import issue_key, load_pepper, revoke_keys

    if prefix is not None and not revoke:
        raise cli.fail("--prefix is only used with --revoke")
    rt = cli.runtime()
    try:
        now = utcnow()
        pepper = None if revoke else load_pepper(rt.settings)
        with transaction(rt.sessions) as session:
            if session.get(Partner, partner_id) is None:
                raise cli.fail(f"unknown partner {partner_id!r}")
            if revoke:
                revoked = revoke_keys(session, partner_id, now, prefix)
                if prefix is not None and not revoked:
                    raise cli.fail(f"partner {partner_id!r} has no active key with prefix {prefix!r}")
                out: dict[str, Any] = {"partner": partner_id, "revoked": revoked, "revoked_at": isoformat(now)}
            else:
                assert pepper is not None
                issued = issue_key(session, partner_id, pepper, now)
                push = session.scalar(
                    select(Source.id).where(Source.partner_id == partner_id, Source.kind == "push").limit(1)
                )
                out = {"partner": partner_id, "prefix": issued.prefix, "key": issued.key,
                       "created_at": isoformat(now), "push_source": push is not None}
    finally:
        rt.close()
    if as_json:
        cli.emit_json(out)
        return
    if revoke:
        what = ", ".join(out["revoked"]) or "none (no active key)"
        sys.stdout.write(f"revoked keys of {partner_id}: {what}\n")
        return
    sys.stdout.write(f"{out['key']}\n")
    sys.stderr.write(f"new key for {partner_id} (prefix {out['prefix']}): store it now, it is not shown again\n")
    if not out["push_source"]:
        sys.stderr.write(f"note: {partner_id} has no push source (kind = \"push\"), so pushing items answers 403\n")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `syndication` app."""
    partner_app: typer.Typer = app.partner_app  # type: ignore[attr-defined]
    partner_app.command("key")(key_command)
