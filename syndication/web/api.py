"""The partner-facing HTTP API (push items, manage feed sources, check an item), installed by create_app.

Every route authenticates with ``Authorization: Bearer <key>`` (see syndication.partners.keys) and answers errors
as ``{"error": "<code>", "detail": "<sentence>"}``. Order of checks on a push: failed-auth throttle of the
client address (429), key (401/403), rate limit (429), Content-Type (415), size (413: Content-Length first,
then while streaming), document (422), store. No route reads a byte of the body before the key is checked.

Design decisions:
- A push is all-or-nothing. If any item fails validation the answer is 422 naming each failing item and
  nothing is stored. The only per-item ``rejected`` result in a 202 is an exact repeat of an earlier
  entry of the same document (same id and link): its first copy is stored, so nothing is lost.
- Item results come in document order of the accepted items, then the repeats. ``id`` is the partner's
  id (guid) when it sent one, else our key.
- An XML document that is not well-formed is refused (422) rather than partly stored: the partner can
  fix and resend, which a poll cannot ask for.
- ``GET …/items/{item_id}`` takes the partner's id (guid, URL-encoded; it may contain "/") or our key
  (``g:…``, ``l:…``, ``t:…``, as returned by a push). An id shared by several items answers 409 listing
  their keys.
- The rate limit is per partner, spent by every authenticated request, and shared by every web process when
  scaled out (syndication.kernel.limiters).
- Failed keys (malformed, unknown, revoked) are counted per client address, never per partner: past
  `auth.max_failures` in `auth.window_seconds` the address gets 429 without its key being looked at, so a
  stranger guessing keys can lock out only themself (syndication.web.guard).
- Everything a partner reads about a fetch of theirs (a refused source, a source's last error) has internal
  addresses taken out; operators keep the full text in the poll record and the logs.
- Every string we store must fit its column on PostgreSQL too (SQLite never checks): an item whose id or URL
  is longer than the column is refused with the whole push (422), the same on both databases.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from syndication.db.models import Channel, Item, ItemVersion, Partner, Source, Story
from syndication.db.session import transaction
from syndication.intake.credentials import seal_credentials
from syndication.intake.decide import interval_bound
from syndication.intake.documents import read_document
from syndication.intake.fetch import Credentials, FetchError, fetch, is_blocked_ip
from syndication.intake.newsml import MEDIA_TYPES as NEWSML_TYPES
from syndication.intake.newsml import is_newsml, parse_newsml
from syndication.intake.ninjs import parse_ninjs
from syndication.intake.parse import (
    NINJS_HINT,
    NINJS_TYPE,
    ParseError,
    UnsupportedWireItem,
    encoding_problem,
    json_encoding_problem,
    json_item_to_entry,
    parse_xml_feed,
)
from syndication.kernel.clock import isoformat, utcnow
from syndication.kernel.domain import NormalisedItem, ParsedEntry, ParsedFeed, Rejection
from syndication.kernel.limiters import FailureThrottle, RateLimit
from syndication.kernel.settings import check_feed_url
from syndication.partners.keys import load_pepper, verify_key
from syndication.partners.registry import credentials_key
from syndication.pipeline.ingest import store_items
from syndication.pipeline.normalise import normalise_feed
from syndication.publish.channels import channel_specs, partner_infos, select_items
from syndication.publish.published import item_uid
from syndication.runtime.context import Runtime
from syndication.runtime.jobs import fetch_policy, policy_of
from syndication.runtime.tasks import TASK_WEBSUB_SUBSCRIPTIONS
from syndication.web.guard import (
    SOURCE_BODY_LIMIT,
    BodyTooLarge,
    RowId,
    client_address,
    read_limited,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1/partners/{partner_id}"
XML_TYPES = ("application/atom+xml", "application/rss+xml", "application/xml", "text/xml", *NEWSML_TYPES)
JSON_TYPES = ("application/feed+json", "application/json")
# Agencies' own formats, each with its parser (the content type alone decides: a ninjs item is JSON too).
WIRE_TYPES = (NINJS_TYPE,)
MAX_NAMED_PROBLEMS = 20
MAX_URL_LENGTH = int(Source.__table__.c.locator.type.length or 2000)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- errors


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


class ErrorBody(BaseModel):
    """Every error of this API."""

    error: str = Field(examples=["unknown_key"], description="A stable, machine-readable code.")
    detail: str = Field(examples=["this key is not known"], description="A human sentence saying what to fix.")


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse({"error": exc.code, "detail": exc.detail}, status_code=exc.status, headers=exc.headers)


def describe_validation(errors: Any) -> str:
    parts = []
    for err in list(errors)[:MAX_NAMED_PROBLEMS]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",)) or "request"
        parts.append(f"{loc}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return "; ".join(parts) or "invalid request"


class ApiRoute(APIRoute):
    """Our routes answer every error, FastAPI's own 422 included, as ErrorBody."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except ApiError as exc:
                return error_response(exc)
            except BodyTooLarge as exc:
                return error_response(ApiError(413, "payload_too_large", str(exc)))
            except RequestValidationError as exc:
                return error_response(ApiError(422, "invalid_request", describe_validation(exc.errors())))
            except Exception:
                log.exception("partner API: %s %s failed", request.method, request.url.path)
                return error_response(ApiError(500, "internal_error", "something went wrong on our side; "
                                               "retrying is safe (a repeated push creates no duplicates)"))

        return handler


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _err("Missing, malformed, unknown or revoked key (`missing_key`, `unknown_key`, `revoked_key`)."),
    403: _err("The key belongs to another partner (`wrong_partner`)."),
    422: _err("The request is invalid (`invalid_request`)."),
    429: _err("Too many requests from this partner (`rate_limited`), or too many failed keys from this "
              "address (`too_many_failures`); see Retry-After."),
}


# ---------------------------------------------------------------- push documents


class JsonAuthor(BaseModel):
    name: str | None = None
    url: str | None = None
    avatar: str | None = None


class JsonAttachment(BaseModel):
    url: str
    mime_type: str | None = None
    title: str | None = None
    size_in_bytes: int | None = None
    duration_in_seconds: float | None = None


class SyndicationFields(BaseModel):
    """Our extension fields of a pushed item."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["usable", "corrected", "withdrawn", "canceled"] | None = Field(
        default=None, description="`withdrawn` (or IPTC's `canceled`) removes the item from every channel."
    )
    change_note: str | None = Field(default=None, description="What changed, for corrections and withdrawals.")
    embargo_until: str | None = Field(default=None, description="RFC 3339 time before which we do not publish.")
    original_agency: str | None = None
    image_credit: str | None = None


class PushItem(BaseModel):
    """A JSON Feed 1.1 item (other JSON Feed extension fields are allowed and ignored)."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = Field(default=None, description="Your stable id of the item (recommended).")
    url: str | None = None
    external_url: str | None = None
    title: str | None = None
    content_html: str | None = None
    content_text: str | None = None
    summary: str | None = None
    image: str | None = None
    date_published: str | None = Field(default=None, description="RFC 3339.")
    date_modified: str | None = Field(default=None, description="RFC 3339.")
    language: str | None = None
    author: JsonAuthor | None = None
    authors: list[JsonAuthor] | None = None
    tags: list[str] | None = None
    attachments: list[JsonAttachment] | None = None
    syndication: SyndicationFields | None = Field(default=None, alias="_syndication")


class PushDocument(BaseModel):
    """A JSON Feed document, or just `{"items": [...]}`."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    title: str | None = None
    home_page_url: str | None = None
    language: str | None = None
    items: list[Any]


def _inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's JSON schema with its `$defs` inlined, to embed in an OpenAPI request body."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.removeprefix("#/$defs/")]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)  # type: ignore[no-any-return]


def _push_json_schema() -> dict[str, Any]:
    doc = PushDocument.model_json_schema()
    item = PushItem.model_json_schema(by_alias=True)
    doc.setdefault("$defs", {}).update(item.pop("$defs", {}))
    doc["properties"]["items"] = {"type": "array", "items": item}
    return _inline_defs(doc)


def _item_label(index: int, raw: Any) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    return f"items[{index}]" + (f" (id {str(ident)!r})" if isinstance(ident, (str, int)) else "")


def parse_push_json(body: bytes) -> ParsedFeed:
    """A pushed JSON document -> ParsedFeed, or ApiError(422) naming every failing item and why."""

    bad_bytes = json_encoding_problem(body)
    if bad_bytes:
        raise ApiError(422, "invalid_encoding", f"nothing was stored: {bad_bytes}")
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except RecursionError:
        raise ApiError(422, "unparseable_document", "the JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4,300 digits
        raise ApiError(422, "unparseable_document", f"the body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        hint = f" ({NINJS_HINT})" if isinstance(doc, dict) and "uri" in doc else ""
        raise ApiError(422, "unparseable_document", 'expected a JSON Feed or an object {"items": [...]}' + hint)
    try:
        head = PushDocument.model_validate(doc)
    except ValidationError as exc:
        raise ApiError(422, "unparseable_document", describe_validation(exc.errors())) from None
    problems: list[str] = []
    entries: list[ParsedEntry] = []
    for i, raw in enumerate(doc["items"]):
        label = _item_label(i, raw)
        if not isinstance(raw, dict):
            problems.append(f"{label}: an item must be a JSON object")
            continue
        try:
            PushItem.model_validate(raw)
        except ValidationError as exc:
            problems.append(f"{label}: {describe_validation(exc.errors())}")
            continue
        raw, date_problems = _normalise_dates(raw)
        if date_problems:
            problems.extend(f"{label}: {p}" for p in date_problems)
            continue
        try:
            entry = json_item_to_entry(raw, head.language)
        except Exception as exc:  # the shared converter must not turn one odd item into a 500
            log.exception("push: cannot convert %s", label)
            problems.append(f"{label}: cannot read this item ({exc.__class__.__name__})")
            continue
        entries.append(entry)
    if problems:
        raise _invalid_items(problems)
    fmt = "json" if str(head.version or "").startswith("https://jsonfeed.org/") else "json-items"
    return ParsedFeed(
        title=head.title, link=head.home_page_url, language=head.language, entries=tuple(entries), format=fmt
    )


DATE_FIELDS = (("date_published",), ("date_modified",), ("_syndication", "embargo_until"))


def parse_date(value: str) -> datetime | None:
    """RFC 3339 (a naive time is taken as UTC) or RFC 822; None when neither."""
    text = value.strip()
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    dt = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    try:
        return dt.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00: a date, kept as written; normalisation sets it aside
        return dt


def _normalise_dates(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Dates rewritten as RFC 3339 UTC; a date we cannot read must not silently become "now" (or,
    for an embargo, "publish at once"), so it is a problem naming the field."""
    out = dict(raw)
    problems: list[str] = []
    for path in DATE_FIELDS:
        holder: dict[str, Any] = out
        if len(path) == 2:
            if not isinstance(out.get(path[0]), dict):
                continue
            holder = out[path[0]] = dict(out[path[0]])
        value = holder.get(path[-1])
        if value is None or value == "":
            continue
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            problems.append(f"{'.'.join(path)}: {value!r} is not a date (use RFC 3339)")
        else:
            holder[path[-1]] = parsed.isoformat()
    return out, problems


def parse_push_xml(body: bytes, content_type: str) -> ParsedFeed:
    # A poll falls back to another charset (and tells operators); a pushing partner can fix and resend,
    # so bytes that are not in the declared encoding are refused rather than stored as mojibake.
    bad_bytes = encoding_problem(body, content_type)
    if bad_bytes:
        raise ApiError(422, "invalid_encoding", f"nothing was stored: {bad_bytes}")
    try:
        # NewsML-G2 by its media type or, sent as plain XML, by its root element; RSS/Atom otherwise.
        if content_type.split(";", 1)[0].strip().lower() in NEWSML_TYPES or is_newsml(body):
            return parse_newsml(body, content_type)
        feed = parse_xml_feed(body, {"content-type": content_type}, None)
    except UnsupportedWireItem as exc:
        raise ApiError(415, "unsupported_item_type", f"nothing was stored: {exc}") from None
    except ParseError as exc:
        raise ApiError(422, "unparseable_document", str(exc)) from None
    if feed.problem:
        raise ApiError(422, "unparseable_document", f"the document is not well-formed: {feed.problem}")
    return feed


def parse_push_ninjs(body: bytes) -> ParsedFeed:
    """A pushed ninjs document (one item or {"items": [...]}) -> ParsedFeed; 422 naming the item, the schema
    path and the problem, or 415 for an item type we do not publish. All or nothing, as for any push."""
    bad_bytes = json_encoding_problem(body)
    if bad_bytes:
        raise ApiError(422, "invalid_encoding", f"nothing was stored: {bad_bytes}")
    try:
        return parse_ninjs(body)
    except UnsupportedWireItem as exc:
        raise ApiError(415, "unsupported_item_type", f"nothing was stored: {exc}") from None
    except ParseError as exc:
        code = "unparseable_document" if str(exc).startswith("not JSON") else "invalid_items"
        raise ApiError(422, code, f"nothing was stored: {exc}") from None


def _invalid_items(problems: list[str]) -> ApiError:
    more = len(problems) - MAX_NAMED_PROBLEMS
    detail = "; ".join(problems[:MAX_NAMED_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
    return ApiError(422, "invalid_items", f"nothing was stored: {detail}")


# What a partner calls each of our length-limited item columns (the rest are ours and never too long).
_COLUMN_NAMES = {"guid": "id", "url": "url", "language": "language"}


def _column_limits() -> dict[str, int]:
    return {
        col.name: int(col.type.length) for col in Item.__table__.columns
        if isinstance(col.type, String) and col.type.length and col.name in _COLUMN_NAMES
    }


def _story_agency_limit() -> int:
    return int(Story.__table__.c.original_agency.type.length or 300)  # type: ignore[attr-defined]


def oversize_problems(items: list[NormalisedItem]) -> list[str]:
    """Each value of a normalised item longer than the column that stores it: PostgreSQL refuses such a row
    (SQLite would keep it), so the push is refused the same way on both, naming the item and the field."""
    limits = _column_limits()
    agency_limit = _story_agency_limit()
    problems = []
    for item in items:
        label = f"item {_clip(item.guid or item.url or item.key)!r}"
        for column, limit in limits.items():
            value = getattr(item, column, None)
            if isinstance(value, str) and len(value) > limit:
                problems.append(f"{label}: {_COLUMN_NAMES[column]} has {len(value)} characters, at most {limit} "
                                "are accepted")
        agency = item.attribution.original_agency
        if agency is not None and len(agency) > agency_limit:
            problems.append(f"{label}: _syndication.original_agency has {len(agency)} characters, at most "
                            f"{agency_limit} are accepted")
    return problems


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


_RESOLVED_PRIVATE = re.compile(r"resolves to non-public address \S+")
_CONNECTED_PRIVATE = re.compile(r"connected address \S+ of (\S+) is not public")
_IP_LITERALS = (re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])"), re.compile(r"[0-9A-Fa-f]*:[0-9A-Fa-f:.]*"))


def partner_safe(reason: str | None, *known: str | None) -> str | None:
    """A fetch error as a partner may read it: which internal address a host resolved or connected to is
    none of their business (it maps our network), so only "not public" is said. A non-public address the
    partner wrote themself (in `known`, e.g. their URL) may stay."""
    if reason is None:
        return None

    text = _RESOLVED_PRIVATE.sub("resolves to an address that is not public", reason)
    text = _CONNECTED_PRIVATE.sub(r"the address \1 connected to is not public", text)
    given = " ".join(k for k in known if k)

    def hide(m: re.Match[str]) -> str:
        literal = m.group(0)
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return literal
        return "(a non-public address)" if is_blocked_ip(literal) and literal not in given else literal

    for pattern in _IP_LITERALS:
        text = pattern.sub(hide, text)
    return text


def is_repeat(rejection: Rejection) -> bool:
    """An exact repeat of an earlier entry of the same document (its first copy is kept)."""
    return rejection.reason.startswith("duplicate of entry")


def check_rejections(feed: ParsedFeed, rejections: list[Rejection]) -> None:
    problems = []
    for r in rejections:
        if is_repeat(r):
            continue
        index = next((i for i, e in enumerate(feed.entries) if r.guid is not None and e.guid == r.guid), None)
        label = f"item {index + 1}" if index is not None else "an item"
        problems.append(f"{label}" + (f" (id {r.guid!r})" if r.guid else "") + f": {r.reason}")
    if problems:
        raise _invalid_items(problems)


# ---------------------------------------------------------------- responses


class ItemResult(BaseModel):
    id: str = Field(description="Your id of the item, or our key when you sent none.")
    status: Literal["new", "updated", "unchanged", "rejected"]
    reason: str | None = None


class PushResult(BaseModel):
    items: list[ItemResult]


class CredentialsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str | None = None
    password: str | None = None
    token: str | None = Field(default=None, description="Sent as `Authorization: Bearer <token>`.")

    @model_validator(mode="after")
    def _one_kind(self) -> CredentialsIn:
        if self.token and (self.username or self.password):
            raise ValueError("give either a token or a username and password, not both")
        if not self.token and not self.username:
            raise ValueError("give a token, or a username (and password)")
        return self


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_LENGTH, description="The feed's absolute http(s) URL.")
    interval: int = Field(default=300, ge=60, le=7 * 86400, description="Seconds between polls (at least 60).")
    max_interval: int | None = Field(
        default=None, ge=60, le=7 * 86400,
        description="The longest we may wait between polls while the feed is quiet (we back off on unchanged "
                    "feeds and Cache-Control up to this bound, never past our own `fetch.max_interval`). "
                    "Default: a multiple of `interval`.")
    credentials: CredentialsIn | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_feed_url(v.strip())

    @model_validator(mode="after")
    def _bound_not_below_interval(self) -> SourceIn:
        if self.max_interval is not None and self.max_interval < self.interval:
            raise ValueError(f"max_interval ({self.max_interval}) is below interval ({self.interval})")
        return self


class SourceOut(BaseModel):
    id: int
    kind: str
    url: str
    effective_url: str | None
    interval: int
    max_interval: int = Field(description="The longest we wait between polls of this feed while it is quiet.")
    interval_reason: str | None = Field(
        description="Why the current wait differs from `interval`, when it does (backoff, Cache-Control, …).")
    enabled: bool
    disabled_reason: str | None
    has_credentials: bool
    created_at: str | None
    next_poll_at: str | None
    last_success_at: str | None
    last_status: int | None
    last_error: str | None


class SourceList(BaseModel):
    push_enabled: bool = Field(description="Whether this partner may push items.")
    sources: list[SourceOut]


class FeedUrls(BaseModel):
    atom: str
    rss: str
    json_feed: str = Field(alias="json")
    ninjs: str  # [wire] IPTC ninjs 2.2 (<channel>.ninjs.json)

    model_config = ConfigDict(populate_by_name=True)


class ChannelPlacement(BaseModel):
    id: str
    position: int = Field(description="1 = newest item of the channel.")
    window: int
    published_at: str | None = Field(description="When the channel's files were last generated.")
    pending: bool = Field(description="True while a regeneration of the channel is due (changes not yet out).")
    feeds: FeedUrls


class VersionOut(BaseModel):
    version: int
    recorded_at: str | None


class DateNote(BaseModel):
    field: str = Field(description="published, updated or embargo_until.")
    raw: str = Field(description="The value as you sent it.")
    reason: str


class ItemStatus(BaseModel):
    id: str
    key: str
    guid: str | None
    uid: str = Field(description="The id we publish the item under (urn:uuid).")
    title: str
    url: str | None = Field(description="Your original URL.")
    received: str | None = Field(description="When we first received the item.")
    last_received: str | None
    updated: str | None
    version: int
    versions: list[VersionOut]
    status: Literal["usable", "withdrawn"]
    change_note: str | None
    embargo_until: str | None
    embargoed: bool
    published: bool = Field(description="Whether the item is in the current window of at least one channel.")
    channels: list[ChannelPlacement]
    partner_dates: list[DateNote] = Field(
        default_factory=list,
        description="Your dates we could not use, as you sent them, and why (the item is then dated by when we "
                    "first received it): before 1970-01-02, more than a day in the future, or not a date.")


# ---------------------------------------------------------------- shell


@dataclass
class Api:
    rt: Runtime
    limiter: RateLimit  # injected: limiters.push_rate_limit (in memory embedded, in Redis scaled out)
    throttle: FailureThrottle  # injected: failed keys per client address (syndication.web.guard)
    _pepper: bytes | None = None

    @property
    def pepper(self) -> bytes:
        if self._pepper is None:
            self._pepper = load_pepper(self.rt.settings)
        return self._pepper

    def authenticate(self, partner_id: str, creds: HTTPAuthorizationCredentials | None, address: str) -> bool:
        """Raise 401/403 unless the key is an active key of `partner_id`; return whether it has a push source.
        `address` is the client's (guard.client_address): its failed keys are throttled."""
        challenge = {"WWW-Authenticate": 'Bearer realm="syndication"'}
        if creds is None or not creds.credentials:
            raise ApiError(401, "missing_key", "send your key as 'Authorization: Bearer <key>'", challenge)
        blocked = self.throttle.retry_after(address)
        if blocked > 0:
            raise ApiError(429, "too_many_failures", f"too many failed keys from your address; retry in {blocked} s",
                           {"Retry-After": str(blocked)})
        with self.rt.sessions() as session:
            check = verify_key(session, creds.credentials, self.pepper)
            if check.outcome in ("malformed", "unknown", "revoked"):
                self.throttle.failed(address)
            if check.outcome == "malformed":
                raise ApiError(401, "unknown_key", "this is not a key we issue (synd_<prefix>_<secret>)", challenge)
            if check.outcome == "unknown":
                log.info("push API: unknown key (prefix %s) for partner %s from %s", check.prefix, partner_id,
                         address)
                raise ApiError(401, "unknown_key", "this key is not known; ask us for a new one", challenge)
            if check.outcome == "revoked":
                log.info("push API: revoked key (prefix %s) for partner %s from %s", check.prefix, partner_id,
                         address)
                raise ApiError(401, "revoked_key", "this key has been revoked; ask us for a new one", challenge)
            if check.partner_id != partner_id:
                log.warning("push API: key of %s (prefix %s) used for %s", check.partner_id, check.prefix,
                            partner_id)
                raise ApiError(403, "wrong_partner", f"this key is not valid for partner {partner_id!r}")
            push = session.scalar(
                select(Source.id).where(Source.partner_id == partner_id, Source.kind == "push").limit(1)
            )
        wait = self.limiter.take(partner_id)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            raise ApiError(
                429, "rate_limited",
                f"more than {self.rt.settings.api.rate_limit_per_minute} requests a minute; retry in {retry} s",
                {"Retry-After": str(retry)},
            )
        return push is not None

    # -- push

    async def read_body(self, request: Request) -> bytes:
        return await read_limited(request, self.rt.settings.api.max_body_bytes)

    def check_push_open(self, partner_id: str) -> None:
        """423 when the partner's push source is paused (checked before the body is read, and again by
        store_push, as an operator may pause it meanwhile)."""
        with self.rt.sessions() as session:
            row = session.execute(
                select(Source.enabled, Source.disabled_reason)
                .where(Source.partner_id == partner_id, Source.kind == "push").order_by(Source.id).limit(1)
            ).first()
        if row is not None and not row.enabled:
            raise paused_error(partner_id, row.disabled_reason)

    def store_push(self, partner_id: str, feed: ParsedFeed) -> PushResult:
        with self.rt.sessions() as session:
            partner = session.get(Partner, partner_id)
            push = session.execute(
                select(Source.id, Source.enabled, Source.disabled_reason)
                .where(Source.partner_id == partner_id, Source.kind == "push").order_by(Source.id).limit(1)
            ).first()
            if partner is None or push is None:
                raise ApiError(403, "no_push_source", f"partner {partner_id!r} has no push source")
            if not push.enabled:
                raise paused_error(partner_id, push.disabled_reason)
            source_id = push.id
            policy = policy_of(partner, self.rt.settings)
        # Pure work outside the write transaction (SQLite has one writer at a time).
        items, rejections = normalise_feed(feed, policy, now=utcnow())
        check_rejections(feed, rejections)
        if problems := oversize_problems(items):
            raise _invalid_items(problems)
        for attempt in (1, 2):
            now = utcnow()
            try:
                with transaction(self.rt.sessions) as session:
                    counts = store_items(session, items, rejections, now=now, source_id=source_id)
                    source = session.get(Source, source_id)
                    if source is not None:
                        source.last_attempt_at = source.last_success_at = now
                        source.last_counts = {"new": counts.new, "updated": counts.updated,
                                              "unchanged": counts.unchanged, "rejected": counts.rejected}
                break
            except IntegrityError:
                # Two identical pushes raced to insert the same new item: the retry sees it and upserts.
                if attempt == 2:
                    raise
        ids = {i.key: (i.guid or i.key) for i in items}
        results = [ItemResult(id=ids.get(k, k), status=o, reason=r) for k, o, r in counts.results if o != "rejected"]
        results += [ItemResult(id=k or "", status=o, reason=r) for k, o, r in counts.results if o == "rejected"]
        log.info("push from %s: %d new, %d updated, %d unchanged, %d repeats", partner_id, counts.new,
                 counts.updated, counts.unchanged, counts.rejected)
        if (counts.new or counts.updated) and self.rt.dispatcher is not None:
            try:
                self.rt.dispatcher.publish_dirty()
            except Exception:  # stored is stored; the scheduled refresh publishes it anyway
                log.exception("push from %s: could not trigger publication", partner_id)
        return PushResult(items=results)

    # -- sources

    def list_sources(self, partner_id: str) -> SourceList:
        with self.rt.sessions() as session:
            rows = list(session.scalars(
                select(Source).where(Source.partner_id == partner_id).order_by(Source.id)
            ))
        return SourceList(
            push_enabled=any(r.kind == "push" for r in rows),
            sources=[source_out(r, self.rt.settings.fetch.max_interval) for r in rows if r.kind == "feed"],
        )

    def add_source(self, partner_id: str, body: SourceIn) -> SourceOut:
        with self.rt.sessions() as session:
            if session.scalar(select(Source.id).where(
                Source.partner_id == partner_id, Source.kind == "feed", Source.locator == body.url
            )) is not None:
                raise ApiError(409, "source_exists", f"you already have a source with URL {body.url}")
        cap = self.rt.settings.fetch.max_interval
        if body.max_interval is not None and body.max_interval > cap:
            raise ApiError(422, "invalid_request", f"max_interval ({body.max_interval}) is above our limit of {cap} s")
        creds = Credentials(**body.credentials.model_dump()) if body.credentials else None
        try:
            result = fetch(body.url, fetch_policy(self.rt), credentials=creds, slots=self.rt.host_slots)
            feed = read_document(result.body, result.headers, result.url)
        except FetchError as exc:
            log.info("partner %s: source %s refused: %s", partner_id, body.url[:200], exc.reason)
            reason = partner_safe(exc.reason, body.url)
            raise ApiError(422, "invalid_source", f"cannot fetch {body.url}: {reason}") from None
        except ParseError as exc:
            raise ApiError(422, "invalid_source", f"{body.url} is not a feed we can read: {exc}") from None
        record = None
        if body.credentials is not None:
            # Stored sealed, like configured credentials (syndication.intake.credentials).
            record = seal_credentials(credentials_key(self.rt.settings), **body.credentials.model_dump())
        now = utcnow()
        try:
            with transaction(self.rt.sessions) as session:
                row = Source(
                    partner_id=partner_id, kind="feed", locator=body.url, interval=body.interval,
                    max_interval=body.max_interval, consume=True,
                    enabled=True, credentials=record,
                    next_poll_at=now, consecutive_errors=0, created_at=now,
                )
                session.add(row)
                session.flush()
                out = source_out(row, self.rt.settings.fetch.max_interval)
        except IntegrityError:
            raise ApiError(409, "source_exists", f"you already have a source with URL {body.url}") from None
        log.info("partner %s added feed source %s (%s, %d entries)", partner_id, out.id, feed.format,
                 len(feed.entries))
        return out

    def delete_source(self, partner_id: str, source_id: int) -> None:
        with transaction(self.rt.sessions) as session:
            row = session.get(Source, source_id)
            if row is None or row.partner_id != partner_id or row.kind != "feed":
                raise ApiError(404, "not_found", f"you have no feed source {source_id}")
            session.delete(row)
        log.info("partner %s deleted feed source %s", partner_id, source_id)
        if self.rt.dispatcher is not None:
            # [wire] its WebSub subscription, if any, is left without a source: tell the hub to stop now.
            try:
                self.rt.dispatcher.deliver(TASK_WEBSUB_SUBSCRIPTIONS)
            except Exception:  # the scheduled subscription run does it anyway
                log.exception("could not dispatch the WebSub unsubscription of source %s", source_id)

    # -- item status

    def item_status(self, partner_id: str, item_id: str) -> ItemStatus:
        now = utcnow()
        settings = self.rt.settings
        with self.rt.sessions() as session:
            row = session.scalar(select(Item).where(Item.partner_id == partner_id, Item.key == item_id))
            if row is None:
                rows = list(session.scalars(
                    select(Item).where(Item.partner_id == partner_id, Item.guid == item_id).order_by(Item.id)
                ))
                if len(rows) > 1:
                    keys = ", ".join(r.key for r in rows)
                    raise ApiError(409, "ambiguous_id",
                                   f"id {_clip(item_id)!r} names several items; ask by key: {keys}")
                row = rows[0] if rows else None
            if row is None:
                raise ApiError(404, "not_found", f"you have no item with id or key {_clip(item_id)!r}")
            versions = [
                VersionOut(version=v.version, recorded_at=isoformat(v.recorded_at))
                for v in session.scalars(
                    select(ItemVersion).where(ItemVersion.item_id == row.id).order_by(ItemVersion.version)
                )
            ]
            embargoed = row.embargo_until is not None and row.embargo_until > now
            placements: list[ChannelPlacement] = []
            if row.status != "withdrawn" and not embargoed:
                specs = [
                    s for s in channel_specs(settings, list(session.scalars(select(Partner))))
                    if not s.partners or partner_id in s.partners
                ]
                state = {c.id: c for c in session.scalars(
                    select(Channel).where(Channel.id.in_([s.id for s in specs]))
                )}
                infos = partner_infos(session)
                for spec in specs:
                    window = select_items(session, spec, infos, now)
                    pos = next((i for i, p in enumerate(window) if p.id == row.id), None)
                    if pos is None:
                        continue
                    ch = state.get(spec.id)
                    base = f"{settings.public_url.rstrip('/')}/feeds/{spec.id}"
                    placements.append(ChannelPlacement(
                        id=spec.id, position=pos + 1, window=spec.window,
                        published_at=isoformat(ch.published_at) if ch else None,
                        pending=ch is None or ch.dirty_since is not None or ch.published_at is None,
                        feeds=FeedUrls(atom=f"{base}.atom", rss=f"{base}.rss", json=f"{base}.json",
                                       ninjs=f"{base}.ninjs.json"),
                    ))
            return ItemStatus(
                id=row.guid or row.key, key=row.key, guid=row.guid, uid=item_uid(row.partner_id, row.key),
                title=row.title, url=row.url, received=isoformat(row.first_seen_at),
                last_received=isoformat(row.last_seen_at), updated=isoformat(row.updated_at),
                version=row.version, versions=versions,
                status="withdrawn" if row.status == "withdrawn" else "usable",
                change_note=row.change_note, embargo_until=isoformat(row.embargo_until), embargoed=embargoed,
                published=bool(placements), channels=placements,
                partner_dates=[DateNote(**note) for note in row.partner_dates or ()],
            )


def paused_error(partner_id: str, reason: str | None) -> ApiError:
    return ApiError(423, "source_paused", f"the push source of partner {partner_id!r} is paused"
                    f" ({reason or 'disabled'}); nothing was stored: send again once it is resumed")


def source_out(row: Source, max_interval_cap: int) -> SourceOut:
    return SourceOut(
        id=row.id, kind=row.kind, url=row.locator, effective_url=row.effective_url, interval=row.interval,
        max_interval=interval_bound(row.interval, row.max_interval, max_interval_cap),
        interval_reason=row.interval_reason,
        enabled=row.enabled, disabled_reason=row.disabled_reason, has_credentials=bool(row.credentials),
        created_at=isoformat(row.created_at), next_poll_at=isoformat(row.next_poll_at),
        last_success_at=isoformat(row.last_success_at), last_status=row.last_status,
        last_error=partner_safe(row.last_error, row.locator, row.effective_url),
    )


def media_type(request: Request) -> tuple[str, str]:
    raw = request.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower(), raw


bearer = HTTPBearer(auto_error=False, description="The push key we issued you (`syndication partner key`).")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
PartnerId = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64, description="Your partner id.")]


def partner_api(request: Request) -> Api:
    """The app's partner API service (install() puts it on app.state)."""
    return request.app.state.partner_api  # type: ignore[no-any-return]


PartnerApi = Annotated[Api, Depends(partner_api)]
router = APIRouter(prefix=API_PREFIX, route_class=ApiRoute, tags=["partner API"])
PUSH_BODY = {
    "required": True,
    "content": {
        **{t: {"schema": {"type": "string", "description": "An RSS 2.0 or Atom 1.0 document, or a NewsML-G2 "
                          "newsItem, packageItem or newsMessage (recognised by its root element)."}}
           for t in XML_TYPES},
        **{t: {"schema": _push_json_schema()} for t in JSON_TYPES},
        NINJS_TYPE: {"schema": {
            "type": "object",
            "description": "An IPTC ninjs item (1.x, 2.x or 3.x), or an object {\"items\": [...]} of them. Each "
                           "item is validated against the latest schema of its major version "
                           "(https://iptc.org/std/ninjs/); text, picture and composite items are accepted.",
        }},
    },
}


@router.post(
    "/items",
    status_code=202,
    response_model=PushResult,
    summary="Push items",
    openapi_extra={"requestBody": PUSH_BODY},
    responses={
        **AUTH_ERRORS,
        403: _err("The key belongs to another partner (`wrong_partner`), or this partner has no push source "
                  "(`no_push_source`)."),
        413: _err("The body is larger than the limit (`payload_too_large`)."),
        415: _err("The Content-Type is not one we accept (`unsupported_media_type`), or a ninjs or NewsML-G2 item "
                  "is of a kind we do not publish (`unsupported_item_type`: audio, video, event, planning, "
                  "concept)."),
        422: _err("The document cannot be parsed (`unparseable_document`), its bytes are not in the encoding "
                  "it declares (`invalid_encoding`, naming the byte offset), or items fail validation "
                  "(`invalid_items`, naming each); nothing was stored."),
        423: _err("Your push source is paused by an operator (`source_paused`); nothing was stored. Send "
                  "again once it is resumed."),
    },
)
async def push_items(partner_id: PartnerId, request: Request, creds: Bearer, api: PartnerApi) -> PushResult:
    """Store the items of an RSS, Atom, JSON, ninjs or NewsML-G2 document; answered once they are stored.

    JSON: a JSON Feed, or `{"items": [...]}` with JSON Feed item fields, and our fields under
    `_syndication` (`status`, `change_note`, `embargo_until`, `original_agency`, `image_credit`).
    ninjs (`application/ninjs+json`): one item or `{"items": [...]}`, its rights, byline, place, credits,
    embargo and publication status read from its own fields (docs/wire.md).
    NewsML-G2 (`application/vnd.iptc.g2.newsitem+xml`, or any XML type with a G2 root): a newsItem, a packageItem
    or a newsMessage of them, mapped the same way.
    Sending the same items again changes nothing (`unchanged`). All or nothing: a 422 stores no item.
    """
    can_push = await run_in_threadpool(api.authenticate, partner_id, creds, client_address(request))
    if not can_push:
        raise ApiError(403, "no_push_source", f"partner {partner_id!r} has no push source; ask us to enable one")
    await run_in_threadpool(api.check_push_open, partner_id)
    mtype, raw_type = media_type(request)
    if mtype not in XML_TYPES + JSON_TYPES + WIRE_TYPES:
        accepted = ", ".join(XML_TYPES + JSON_TYPES + WIRE_TYPES)
        raise ApiError(415, "unsupported_media_type",
                       f"Content-Type {mtype or '(none)'!r} is not accepted; send one of {accepted}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ApiError(415, "unsupported_media_type", f"Content-Encoding {encoding!r} is not accepted; send the "
                       "document uncompressed")
    body = await api.read_body(request)
    parse: Callable[[], ParsedFeed] = (
        (lambda: parse_push_json(body)) if mtype in JSON_TYPES
        else (lambda: parse_push_ninjs(body)) if mtype == NINJS_TYPE
        else (lambda: parse_push_xml(body, raw_type))
    )
    feed = await run_in_threadpool(parse)
    return await run_in_threadpool(api.store_push, partner_id, feed)

@router.get("/sources", response_model=SourceList, summary="List your feed sources", responses=AUTH_ERRORS)
def list_sources(partner_id: PartnerId, request: Request, creds: Bearer, api: PartnerApi) -> SourceList:
    """Your feed sources and their health. Credentials are never returned."""
    api.authenticate(partner_id, creds, client_address(request))
    return api.list_sources(partner_id)

SOURCE_SCHEMA = _inline_defs(SourceIn.model_json_schema())

@router.post(
    "/sources",
    status_code=201,
    response_model=SourceOut,
    summary="Add a feed source",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": SOURCE_SCHEMA}}}},
    responses={
        **AUTH_ERRORS,
        409: _err("You already have a source with this URL (`source_exists`)."),
        413: _err(f"The body is larger than {SOURCE_BODY_LIMIT} bytes (`payload_too_large`)."),
        422: _err("The request is invalid (`invalid_request`), or the URL cannot be fetched, is refused by "
                  "the address guard or is not a feed (`invalid_source`, saying why)."),
    },
)
async def add_source(partner_id: PartnerId, request: Request, creds: Bearer, api: PartnerApi) -> SourceOut:
    """We fetch the URL once now and accept it only if it is a feed; then we poll it every `interval` s."""
    # The body is read (and parsed) only once the key is good, and never past SOURCE_BODY_LIMIT.
    await run_in_threadpool(api.authenticate, partner_id, creds, client_address(request))
    raw = await read_limited(request, SOURCE_BODY_LIMIT)
    try:
        body = SourceIn.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(422, "invalid_request", describe_validation(exc.errors())) from None
    return await run_in_threadpool(api.add_source, partner_id, body)

@router.delete(
    "/sources/{source_id}",
    status_code=204,
    response_class=Response,
    summary="Delete one of your feed sources",
    responses={**AUTH_ERRORS, 404: _err("You have no feed source with this id (`not_found`).")},
)
def delete_source(
    partner_id: PartnerId,
    source_id: RowId,
    request: Request,
    creds: Bearer,
    api: PartnerApi,
) -> Response:
    """Stop polling it. Items already received stay."""
    api.authenticate(partner_id, creds, client_address(request))
    api.delete_source(partner_id, source_id)
    return Response(status_code=204)

@router.get(
    "/items/{item_id:path}",
    response_model=ItemStatus,
    summary="Where your item stands",
    responses={
        **AUTH_ERRORS,
        404: _err("You have no item with this id or key (`not_found`)."),
        409: _err("Several of your items share this id; ask by key (`ambiguous_id`)."),
    },
)
def item_status(
    partner_id: PartnerId,
    item_id: Annotated[str, PathParam(description="Your id of the item (URL-encoded, it may contain '/'), "
                                      "or our key as returned by a push (g:…, l:…, t:…).")],
    request: Request,
    creds: Bearer,
    api: PartnerApi,
) -> ItemStatus:
    """`item_id`: your id of the item (URL-encoded) or our key. Says when we received it, its current
    version, whether it is withdrawn or embargoed, and in which channels it is published now."""
    api.authenticate(partner_id, creds, client_address(request))
    return api.item_status(partner_id, item_id)


def install(app: FastAPI, rt: Runtime, limiter: RateLimit | None = None) -> None:
    """Add the partner API routes to the app; `limiter` defaults to the runtime's push rate limit, the
    failed-key throttle is the app's (create_app)."""
    app.state.partner_api = Api(rt, limiter if limiter is not None else rt.push_rate, app.state.auth_throttle)
    app.include_router(router)
    _install_http_error_handler(app)


def _install_http_error_handler(app: FastAPI) -> None:
    """404/405 from the router under /api/v1/ (no route of ours ran) in our error shape too; other paths
    keep whatever handler was there (FastAPI's default unless another area installed one)."""

    previous = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    async def handler(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/api/v1/") and isinstance(exc, StarletteHTTPException):
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
            detail = exc.detail if isinstance(exc.detail, str) else "request refused"
            if exc.status_code == 404:
                detail = f"no such API route: {request.method} {request.url.path}"
            elif exc.status_code == 405:
                detail = f"{request.method} is not allowed on {request.url.path}"
            return JSONResponse({"error": code, "detail": detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        result = previous(request, exc)
        return await result if hasattr(result, "__await__") else result  # type: ignore[no-any-return]

    app.add_exception_handler(StarletteHTTPException, handler)


