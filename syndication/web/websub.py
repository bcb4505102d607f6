"""[wire] The callback partners' WebSub hubs call (syndication.intake.subscriptions holds the rules).

- GET /websub/callback/<id>: the hub's verification of intent. 200 with hub.challenge echoed (text/plain)
  only when hub.mode and hub.topic match the request the hub is answering; a denial (hub.mode=denied) is
  recorded and answered 200; anything else 404.
- POST /websub/callback/<id>: a content distribution. Its X-Hub-Signature must be the HMAC of the body
  under the subscription's secret: if not, the body is ignored, the reason recorded for operators, and the
  answer is still 2xx (the spec requires it, so a forger learns nothing). A signed body is taken like a poll's
  document of that source (202 with the counts); a body that is not a feed is 422; a callback for a
  deleted source is 410 (the hub should stop); an unknown one 404. Bodies are capped at api.max_body_bytes.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse

from syndication.db.models import Source
from syndication.intake import subscriptions
from syndication.intake.credentials import CredentialsError
from syndication.intake.hubs import check_signature
from syndication.intake.parse import ParseError
from syndication.kernel.clock import utcnow
from syndication.runtime import jobs
from syndication.runtime.context import Runtime
from syndication.web.guard import read_limited

log = logging.getLogger(__name__)

CALLBACK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def _unknown() -> JSONResponse:
    return _error(404, "not_found", "no subscription is waiting for this request")


def install(app: FastAPI, rt: Runtime) -> None:
    path = subscriptions.CALLBACK_PATH + "{callback_id}"

    @app.get(path, include_in_schema=False)
    def verify_intent(callback_id: str, request: Request) -> Response:
        if not CALLBACK_ID.match(callback_id):
            return _unknown()
        params = {k: v for k, v in request.query_params.items() if k.startswith("hub.")}
        answer = subscriptions.verify(rt.sessions, rt.settings, callback_id, params, utcnow())
        if answer is None:
            return _unknown()
        return PlainTextResponse(answer, status_code=200)

    @app.post(path, include_in_schema=False)
    async def distribution(callback_id: str, request: Request) -> Response:
        if not CALLBACK_ID.match(callback_id):
            return _unknown()
        # The body is read only for a callback of ours (its signature is the only credential there is).
        try:
            target = await run_in_threadpool(
                lambda: subscriptions.content_for(rt.sessions, callback_id, jobs.sealing_key(rt)))
        except CredentialsError as exc:
            log.error("WebSub callback %s…: %s", callback_id[:6], exc)
            return _error(500, "internal_error", "this subscription's secret cannot be read on our side")
        if target is None:
            return _unknown()
        if target.source_id is None:
            return _error(410, "gone", "the source of this subscription was deleted; unsubscribe")
        body = await read_limited(request, rt.settings.api.max_body_bytes)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await run_in_threadpool(_take, rt, target, body, headers)


def _take(rt: Runtime, target: subscriptions.Distribution, body: bytes, headers: dict[str, str]) -> Response:
    now = utcnow()
    assert target.source_id is not None
    ignored = check_signature(headers.get("x-hub-signature"), body, target.secret.encode("utf-8"))
    if ignored is None:
        with rt.sessions() as session:
            source = session.get(Source, target.source_id)
            if source is not None and not source.enabled:
                ignored = f"source {target.source_id} is paused or disabled; its next poll after resuming takes it"
    if ignored is not None:
        subscriptions.record_content(rt.sessions, target.subscription_id, now, ignored=ignored)
        log.warning("WebSub distribution for topic %s ignored: %s", target.topic, ignored)
        # 2xx all the same (WebSub 8: a subscriber acknowledges what it ignores).
        return JSONResponse({"status": "ignored"}, status_code=202)
    try:
        report = jobs.take_distribution(rt, target.source_id, body, headers, target.topic)
    except ParseError as exc:
        reason = f"not a feed: {exc}"
        subscriptions.record_content(rt.sessions, target.subscription_id, now, ignored=reason)
        log.warning("WebSub distribution for topic %s refused: %s", target.topic, reason)
        return _error(422, "unparseable_document", reason)
    except LookupError:
        return _error(410, "gone", "the source of this subscription was deleted; unsubscribe")
    subscriptions.record_content(rt.sessions, target.subscription_id, now)
    return JSONResponse({"status": "accepted", "new": report.new, "updated": report.updated,
                         "unchanged": report.unchanged, "rejected": report.rejected}, status_code=202)
