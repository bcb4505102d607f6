"""HTTP routes of the [publish] area: republishing notices feeds and our copy of each item.

- GET|HEAD /notices/all.atom|.json   public: corrections and withdrawals.
- GET|HEAD /notices/<partner>.atom|.json   the partner's notices, behind its push key
  (`Authorization: Bearer <key>`) or its `notices_token` (bearer, or `?token=`), per `[notices] auth`.
- GET /items/<id>   our copy of an item (the `alternate` link of every feed entry); 410 once withdrawn;
  404 while under embargo, and for an item withdrawn before its embargo passed (it was never public).
- GET|HEAD /items/<id>.ninjs.json   the same item as an IPTC ninjs 2.2 document (as in the channels'
  .ninjs.json files), with a strong ETag and conditional GET; the same 404 and 410.
Wrong credentials count against the client's address (syndication.web.guard): past the limit it gets 429.
"""

from __future__ import annotations

import hmac
from email.utils import format_datetime
from html import escape

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

from syndication.db.models import Item, Partner
from syndication.kernel.clock import UTC, utcnow
from syndication.kernel.limiters import FailureThrottle
from syndication.partners import keys
from syndication.publish.channels import is_publicly_known, partner_infos, to_published
from syndication.publish.feeds import FeedContext, content_with_footer, item_license, item_rights
from syndication.publish.ninjs import ninjs_item_bytes
from syndication.publish.notices import PUBLIC_FEED, notices_dir
from syndication.publish.published import PublishedItem
from syndication.runtime.context import Runtime
from syndication.web.files import CONTENT_TYPES, FileCache, serve_bytes, serve_file, strong_etag
from syndication.web.guard import RowId, client_address

NINJS_TYPE = CONTENT_TYPES["ninjs.json"]


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authorise(rt: Runtime, partner_id: str, request: Request, throttle: FailureThrottle) -> None:
    """Raise 401 (no credentials), 429 (too many wrong ones from this address) or 403 (wrong ones) unless the
    request may read this partner's notices."""
    mode = rt.settings.notices.auth
    bearer = _bearer(request)
    token_q = request.query_params.get("token")
    if not bearer and not token_q:
        raise HTTPException(401, detail="credentials required: Authorization: Bearer <key> or ?token=",
                            headers={"WWW-Authenticate": 'Bearer realm="notices"'})
    address = client_address(request)
    if wait := throttle.retry_after(address):
        raise HTTPException(429, detail=f"too many failed credentials from your address; retry in {wait} s",
                            headers={"Retry-After": str(wait)})
    config = next((p for p in rt.settings.partners if p.id == partner_id), None)
    if mode in ("token", "either") and config is not None and config.notices_token is not None:
        secret = config.notices_token.get_secret_value().encode("utf-8")
        for candidate in (bearer, token_q):
            if candidate and hmac.compare_digest(candidate.encode("utf-8"), secret):
                return
    if mode in ("key", "either") and bearer:
        with rt.sessions() as session:
            check = keys.verify_key(session, bearer, keys.load_pepper(rt.settings))
        if check.outcome == "ok" and check.partner_id == partner_id:
            return
    throttle.failed(address)
    raise HTTPException(403, detail="these credentials may not read this partner's notices")


def install(app: FastAPI, rt: Runtime) -> None:
    """Add this area's routes to the app."""
    cache = FileCache(rt.settings.cache.files_mb * 1024 * 1024 // 4)  # a few feeds: a share of the feeds' bound
    ttl = rt.settings.publish.ttl * 60
    throttle: FailureThrottle = app.state.auth_throttle

    @app.api_route("/notices/{filename}", methods=["GET", "HEAD"], include_in_schema=False)
    def notices_feed(filename: str, request: Request) -> Response:
        name, dot, ext = filename.rpartition(".")
        if not dot or ext not in ("atom", "json") or not name:
            raise HTTPException(404, detail="no such notices feed")
        if name == PUBLIC_FEED:
            return serve_file(request, notices_dir(rt.settings), filename, ttl, cache)
        with rt.sessions() as session:
            known = session.get(Partner, name) is not None
        if not known:
            raise HTTPException(404, detail="no such notices feed")
        authorise(rt, name, request, throttle)
        return serve_file(request, notices_dir(rt.settings), filename, ttl, cache,
                          cache_control=f"private, max-age={min(ttl, 60)}")

    ctx = FeedContext(public_url=rt.settings.public_url, ttl_minutes=rt.settings.publish.ttl)

    def public_item(item_id: int) -> PublishedItem:
        """The item as the public may see it; 404 while nobody may know it exists, 410 once withdrawn."""
        with rt.sessions() as session:
            row = session.get(Item, item_id)
            # Under embargo, or withdrawn before its embargo passed: the public may not learn it exists.
            # Withheld by its partner ([wire] pubstatus withheld): published to no one until a usable version.
            if row is None or row.status == "withheld" or not is_publicly_known(
                    embargo_until=row.embargo_until, withdrawn_at=row.withdrawn_at, status=row.status, now=utcnow()):
                raise HTTPException(404, detail="no such item")
            if row.status == "withdrawn":
                raise HTTPException(410, detail="this item was withdrawn" + (
                    f": {row.change_note}" if row.change_note else ""))
            return to_published(row, partner_infos(session)[row.partner_id])

    # Before /items/{item_id}, which would take "12.ninjs.json" for an id (and refuse it).
    @app.api_route("/items/{item_id}.ninjs.json", methods=["GET", "HEAD"], include_in_schema=False)
    def item_ninjs(item_id: RowId, request: Request) -> Response:
        item = public_item(item_id)
        data = ninjs_item_bytes(item, ctx)
        changed = max(item.updated, item.partner.updated or item.updated).astimezone(UTC)
        return serve_bytes(request, data, strong_etag(data), format_datetime(changed, usegmt=True),
                           NINJS_TYPE, cache, f"public, max-age={ttl}")

    @app.get("/items/{item_id}", include_in_schema=False)
    def item_page(item_id: RowId) -> HTMLResponse:
        item = public_item(item_id)
        lang = f' lang="{escape(item.language)}"' if item.language else ""
        canonical = f'<link rel="canonical" href="{escape(item.url)}">' if item.url else ""
        lic = item_license(item)
        lic_link = f'<link rel="license" href="{escape(lic)}">' if lic else ""
        html = (
            f"<!doctype html><html{lang}><head><meta charset=\"utf-8\"><title>{escape(item.title)}</title>"
            f"{canonical}{lic_link}</head><body><article><h1>{escape(item.title)}</h1>"
            f"{content_with_footer(item)}<footer><small>{escape(item_rights(item))}</small></footer>"
            "</article></body></html>"
        )
        return HTMLResponse(html, headers={"Cache-Control": f"public, max-age={ttl}"})
