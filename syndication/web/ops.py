"""Operator pages (/ops), actions, /metrics; installed by syndication.web.app.create_app.

Server-rendered HTML (Jinja2, autoescaped), no JavaScript needed, a meta refresh. Access:
- `[ops] token` set (at least 32 characters): `Authorization: Bearer <token>`, or the login form's session
  cookie (HttpOnly, SameSite=Strict; a random id whose hash is a row of ops_sessions, so it expires after
  `ops.session_seconds` and logout ends it in every process); no credentials -> 401 (with the login form),
  wrong ones -> 403.
- Wrong tokens (Bearer or login form) count against the client's address: past `auth.max_failures` in
  `auth.window_seconds` it gets 429 + Retry-After, its token not even compared (syndication.web.guard).
- no token: loopback clients only (others get 403), and every page says so.
Forms POST with a CSRF field (an HMAC only this server can make) and the Origin is checked; Bearer
requests need no CSRF field (browsers never add that header by themselves). Bodies are read only after
the access check (the login form's, whose credential is in it, after the throttle) and never past 4 KiB.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import DictLoader, Environment, select_autoescape
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from syndication.kernel.clock import UTC, utcnow
from syndication.kernel.limiters import FailureThrottle
from syndication.operations import ops
from syndication.operations.metrics import render
from syndication.runtime.context import Runtime
from syndication.web.guard import (
    FORM_BODY_LIMIT,
    LOGIN_BODY_LIMIT,
    RowId,
    client_address,
    read_limited,
)
from syndication.web.ops_charts import Drawn, Sample, dashboard_charts, duration
from syndication.web.sessions import close_session, open_session, session_alive

COOKIE = "syndication_ops"
STATE_CLASSES = {"ok": "ok", "failing": "bad", "disabled": "warn", "quiet": "quiet"}

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<title>{% block title %}Operations{% endblock %} · {{ service }}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1rem 1.5rem;color:#222;background:#fafafa}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #ddd}
h3{font-size:1rem;margin:1rem 0 .3rem}#source-detail th{width:12rem}#sources-table th{white-space:nowrap}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border:1px solid #e3e3e3;padding:.25rem .45rem;
text-align:left;vertical-align:top}th{background:#f0f0f0;font-weight:600}td.num{text-align:right}
td.num,td.when,td.actions{white-space:nowrap}td.actions form{display:block;margin:0 0 .2rem}
td.where code{word-break:break-all}.interval-reason{display:inline-block;white-space:normal;max-width:14rem}
td.where{max-width:22rem}td.err{max-width:24rem}
.state{font-weight:700;padding:.05rem .4rem;border-radius:.3rem;color:#fff;white-space:nowrap}
.ok{background:#2e7d32}.bad{background:#c62828}.warn{background:#b26a00}.quiet{background:#6a1b9a}
.note{background:#fff8e1;border:1px solid #ffe082;padding:.4rem .6rem;margin:.5rem 0}
.flash{background:#e8f5e9;border:1px solid #a5d6a7;padding:.4rem .6rem;margin:.5rem 0}
.err{color:#c62828;word-break:break-word}form.inline{display:inline;margin:0}button{cursor:pointer}
nav a{margin-right:1rem}small{color:#666}code{font-size:12px}time[title]{text-decoration:underline dotted #aaa}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr));gap:.6rem 1rem}
figure{margin:0;background:#fff;border:1px solid #e3e3e3;padding:.4rem .5rem .2rem}
figcaption{font-weight:600;font-size:.9rem;margin-bottom:.2rem}
svg.chart{display:block;width:100%;height:auto;font:11px system-ui,sans-serif}
svg.chart text{fill:#555}svg.chart .grid{stroke:#e8e8e8}svg.chart .empty{fill:#999;font-style:italic}
svg.chart rect:hover,svg.chart g.series:hover{opacity:.75}
</style></head><body>
<nav><a href="/ops">Dashboard</a><a href="/metrics">/metrics</a><a href="/ops/status.json">JSON</a>
{% if logout %}<form class="inline" method="post" action="/ops/logout"><button>Log out</button></form>{% endif %}</nav>
{% if loopback_only %}<p class="note" id="loopback-note">No operator token is configured
(<code>[ops] token</code> / <code>SYNDICATION_OPS__TOKEN</code>): these pages are served to loopback clients only.</p>
{% endif %}
{% if flash %}<p class="flash" id="flash">{{ flash }}</p>{% endif %}
{% block body %}{% endblock %}
</body></html>"""

DASHBOARD = """{% extends "base" %}{% block body %}
<h1>{{ service }} — operations <small>{{ snap.mode }} mode · {{ when(snap.generated_at) }}</small></h1>
<p>Sources: {% for state, n in snap.sources_by_state.items() %}<span class="state {{ classes[state] }}">{{ state }}
{{ n }}</span> {% endfor %} · overdue: <b id="overdue-count">{{ snap.pipeline.overdue|length }}</b>
· dead letters: <b>{{ snap.failures.dead_letters|length }}</b>
· channels failing to publish: <b id="publish-failing-count"{% if snap.publishing.failing %} class="err"{% endif %}>{{
snap.publishing.failing|length }}</b></p>

<h2 id="trends">Last 24 hours <small>(sampled every {{ duration(sample_seconds) }}; times in UTC)</small></h2>
<div class="charts">{% for c in charts %}<figure><figcaption>{{ c.title }}</figcaption>{{ c.svg|safe }}</figure>
{% endfor %}</div>

<h2 id="sources">Sources</h2>
<table id="sources-table"><thead><tr><th>source</th><th>URL / path</th><th>state</th><th>last attempt</th>
<th>last success</th><th>errors</th><th>next poll</th><th>items 24 h</th><th>actions</th></tr></thead><tbody>
{% for s in snap.sources %}<tr id="source-{{ s.id }}" data-state="{{ s.state }}">
<td><a href="/ops/sources/{{ s.id }}">#{{ s.id }}</a> {{ s.partner }}<br><small>{{ s.kind }}{% if s.websub
%} · WebSub {{ s.websub.state }}{% endif %}</small></td>
<td class="where"><code>{{ s.effective_url or s.source }}</code></td>
<td><span class="state {{ classes[s.state] }}">{{ s.state }}</span>{% if s.paused %} <small>paused</small>{% endif %}
{% if s.overdue %}<br><small class="err">overdue {{ duration(s.overdue_seconds) }}</small>{% endif %}
{% if s.state == "quiet" %}<br><small>silent {{ duration(s.silence_seconds) }}
(usual gap {{ duration(s.usual_gap_seconds) }})</small>{% endif %}</td>
<td class="when last-attempt">{{ when(s.last_attempt) }}</td>
<td class="when">{{ when(s.last_success) }}</td>
<td class="err">{% if s.consecutive_errors %}<b>{{ s.consecutive_errors }}</b> in a row{% if s.last_error %}:
{% endif %}{% endif %}{{ s.last_error or "" }}</td>
<td class="when">{{ when(s.next_poll, "-") }}<br><small>every {{ duration(s.interval) }}</small>{% if s.interval_reason
%}<br><small class="interval-reason">{{ s.interval_reason }}</small>{% endif %}</td>
<td class="num">{{ s.items_24h }}</td>
<td class="actions">{% if s.kind in ("feed", "folder") %}<form method="post" action="/ops/sources/{{ s.id }}/poll">
<input type="hidden" name="csrf" value="{{ csrf }}"><button name="action" value="poll">Poll now</button></form>
{% endif %}
{% if s.paused or s.state == "disabled" %}<form method="post" action="/ops/sources/{{ s.id }}/resume">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Resume</button></form>
{% else %}<form method="post" action="/ops/sources/{{ s.id }}/pause">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Pause</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="9">No sources configured.</td></tr>{% endfor %}
</tbody></table>

<h2 id="pipeline">Pipeline</h2>
<table><thead><tr><th rowspan="2">partner</th><th colspan="4">last hour</th><th colspan="4">last 24 hours</th></tr>
<tr><th>received</th><th>updated</th><th>rejected</th><th>published</th><th>received</th><th>updated</th>
<th>rejected</th><th>published</th></tr></thead><tbody>
{% for p in snap.pipeline.partners %}<tr><td>{{ p.partner }}</td>
{% for w in ("1h", "24h") %}{% for k in ("received", "updated", "rejected", "published") %}
<td class="num">{{ p[k ~ "_" ~ w] }}</td>{% endfor %}{% endfor %}</tr>{% endfor %}</tbody></table>
<p>Lag from the partner's publish time (items first seen in the last 24 h):
to first seen p50 {{ duration(lag.first_seen.p50) }}, p95 {{ duration(lag.first_seen.p95) }}
({{ lag.first_seen.count }} items);
to republished p50 {{ duration(lag.republished.p50) }}, p95 {{ duration(lag.republished.p95) }}
({{ lag.republished.count }} items).</p>
<p>Overdue sources (due but not yet polled): {% for o in snap.pipeline.overdue %}<a href="/ops/sources/{{ o.id }}">{{
o.partner }} #{{ o.id }}</a> ({{ duration(o.overdue_seconds) }}){% if not loop.last %}, {% endif %}
{% else %}none{% endfor %}</p>

<h2 id="publishing">Publishing</h2>
{% set pub = snap.publishing %}
{% if pub.failing %}<table id="publish-failures"><thead><tr><th>channel</th><th>failing since</th><th>attempts</th>
<th>failures in all</th><th>next retry</th><th>last error</th></tr></thead><tbody>
{% for f in pub.failing %}<tr data-channel="{{ f.channel }}">
<td><span class="state bad">failing</span> {{ f.channel }}</td>
<td class="when">{{ when(f.failing_since) }}</td>
<td class="num">{{ f.consecutive_failures }}</td><td class="num">{{ f.failures_total }}</td>
<td class="when">{{ when(f.next_retry_at, "-") }}</td>
<td class="err">{{ f.last_error }}</td></tr>{% endfor %}</tbody></table>
{% else %}<p id="publish-ok"><span class="state ok">ok</span> every channel written.</p>{% endif %}
<p>Notices waiting for their channels to be written: {{ pub.pending_notices.count }}{% if
pub.pending_notices.oldest_seconds %} (oldest {{ duration(pub.pending_notices.oldest_seconds) }}){% endif %}.</p>

<h2 id="queues">Queues</h2>
{% set q = snap.queues %}
{% if q.error %}<p class="err">{{ q.error }}</p>{% endif %}
{% if q.note %}<p>{{ q.note }}</p>{% endif %}
<table><thead><tr><th>queue</th><th>waiting</th><th>oldest message</th></tr></thead><tbody>
{% for r in q.queues %}<tr><td>{{ r.queue }}</td><td class="num">{{ r.depth }}</td>
<td>{{ duration(r.oldest_age_seconds) }}</td></tr>{% endfor %}</tbody></table>
<p>{% if q.mode == "embedded" %}In-process executor: {{ q.running }} job(s) running.
{% else %}Tasks running (reserved by workers): {{ q.running if q.running is not none else "?" }}{% if
q.oldest_running_age_seconds %}, oldest {{ duration(q.oldest_running_age_seconds) }}{% endif %}.
Workers online: {% if q.workers is none %}unknown{% else %}{{ q.workers|length }}{% if q.workers %}
({{ q.workers|join(", ") }}){% endif %}{% endif %}.{% endif %}</p>

<h2 id="failures">Failures</h2>
<h3>Dead letters</h3>
<table id="dead-letters"><thead><tr><th>id</th><th>task</th><th>args</th><th>attempts</th><th>created</th><th>error</th>
<th></th></tr></thead><tbody>
{% for d in snap.failures.dead_letters %}<tr id="dead-letter-{{ d.id }}"><td>{{ d.id }}</td><td>{{ d.task }}</td>
<td><code>{{ d.args }}</code></td><td class="num">{{ d.attempts }}</td><td class="when">{{ when(d.created_at) }}</td>
<td class="err">{{ d.error }}</td><td><form class="inline" method="post" action="/ops/dead-letters/{{ d.id }}/replay">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Replay</button></form></td></tr>
{% else %}<tr><td colspan="7">None.</td></tr>{% endfor %}</tbody></table>
<h3>Failed notice deliveries</h3>
{% set dl = snap.failures.deliveries %}
{% if not dl.available %}<p>{{ dl.note }}</p>{% else %}
<table id="deliveries"><thead><tr><th>id</th><th>notice</th><th>endpoint</th><th>attempts</th><th>last error</th>
<th></th></tr></thead><tbody>
{% for d in dl["items"] %}<tr><td>{{ d.id }}</td><td>{{ d.notice_id }}</td><td>{{ d.endpoint }}</td>
<td class="num">{{ d.attempts }}</td><td class="err">{{ d.last_error }}</td>
<td><form class="inline" method="post" action="/ops/deliveries/{{ d.id }}/retry">
<input type="hidden" name="csrf" value="{{ csrf }}"><button>Retry</button></form></td></tr>
{% else %}<tr><td colspan="6">None.</td></tr>{% endfor %}</tbody></table>{% endif %}
{% endblock %}"""

SOURCE = """{% extends "base" %}{% block title %}Source {{ s.id }}{% endblock %}{% block body %}
<h1>Source {{ s.id }} · {{ s.partner }} <span class="state {{ classes[s.state] }}">{{ s.state }}</span></h1>
<table id="source-detail">
{% for k in ("kind", "source", "effective_url", "interval", "configured_interval", "max_interval",
"interval_reason", "last_attempt", "last_success", "consecutive_errors",
"last_error", "last_error_at", "last_status", "next_poll", "items_24h", "last_item", "disabled_reason",
"parse_problem") %}<tr><th>{{ k }}</th><td{% if k == "last_error" %} class="err"{% endif %}>{% if k in (
"last_attempt", "last_success", "last_error_at", "next_poll", "last_item") %}{{ when(s[k], "-") }}{%
elif k in ("interval", "configured_interval", "max_interval") and s[k] is not none %}{{ duration(s[k]) }}{%
else %}{{ s[k] if s[k] is not none else "-" }}{% endif %}</td></tr>
{% endfor %}
</table>
{% if s.websub %}<h2>WebSub subscription <span class="state {{ "ok" if s.websub.state == "active" else ("warn"
if s.websub.state == "pending" else "bad") }}">{{ s.websub.state }}</span></h2>
<table id="websub">{% for k in ("hub", "topic", "awaiting_verification", "verified_at", "lease_expires", "renew_at",
"retry_at", "last_error", "last_error_at", "pushes", "last_push", "ignored", "last_ignored", "last_ignored_reason")
%}<tr><th>{{ k }}</th><td{% if k in ("last_error", "last_ignored_reason") %} class="err"{% endif %}>{% if k in (
"verified_at", "lease_expires", "renew_at", "retry_at", "last_error_at", "last_push", "last_ignored") %}{{
when(s.websub[k], "-") }}{% else %}{{ s.websub[k] if s.websub[k] is not none else "-" }}{% endif %}</td></tr>
{% endfor %}</table>{% endif %}
<p>{% if s.kind in ("feed", "folder") %}<form class="inline" method="post" action="/ops/sources/{{ s.id }}/poll">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="next" value="/ops/sources/{{ s.id }}">
<button>Poll now</button></form>{% endif %}
{% if s.paused or s.state == "disabled" %}<form class="inline" method="post" action="/ops/sources/{{ s.id }}/resume">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="next" value="/ops/sources/{{ s.id }}">
<button>Resume</button></form>{% else %}<form class="inline" method="post" action="/ops/sources/{{ s.id }}/pause">
<input type="hidden" name="csrf" value="{{ csrf }}"><input type="hidden" name="next" value="/ops/sources/{{ s.id }}">
<button>Pause</button></form>{% endif %}</p>
<h2>Recent polls</h2>
<table id="polls"><thead><tr><th>started</th><th>outcome</th><th>HTTP</th><th>ms</th><th>new</th><th>updated</th>
<th>unchanged</th><th>rejected</th><th>error</th></tr></thead><tbody>
{% for p in polls %}<tr><td class="when">{{ when(p.started_at) }}</td><td><span class="state {{
"bad" if p.outcome == "error" else "ok" }}">{{ p.outcome }}</span></td>
<td>{{ p.http_status or "" }}</td><td class="num">{{ p.duration_ms }}</td>
<td class="num">{{ p.new }}</td><td class="num">{{ p.updated }}</td><td class="num">{{ p.unchanged }}</td>
<td class="num">{{ p.rejected }}</td><td class="err">{{ p.error or "" }}</td></tr>
{% else %}<tr><td colspan="9">No polls yet.</td></tr>{% endfor %}</tbody></table>
{% endblock %}"""

LOGIN = """{% extends "base" %}{% block title %}Log in{% endblock %}{% block body %}
<h1>Operator login</h1>
{% if error %}<p class="err">{{ error }}</p>{% endif %}
<form method="post" action="/ops/login"><label>Operator token
<input type="password" name="token" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{{ next }}"><button>Log in</button></form>
<p><small>Scripts may send <code>Authorization: Bearer &lt;token&gt;</code> instead.</small></p>
{% endblock %}"""

_env = Environment(loader=DictLoader({"base": BASE, "dashboard": DASHBOARD, "source": SOURCE, "login": LOGIN}),
                   autoescape=select_autoescape(default=True, default_for_string=True))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The access check's answer: status 200 when allowed, else 401, 403 or 429 (then retry_after > 0)."""

    status: int
    reason: str = ""
    needs_csrf: bool = True
    retry_after: int = 0


class Access:
    """Who may see and do what on the operator pages (see the module docstring)."""

    def __init__(self, rt: Runtime, throttle: FailureThrottle) -> None:
        self.rt = rt
        self.token = rt.settings.ops.token or None
        self.throttle = throttle
        # The CSRF and session-hash key: from the token when set (same in every web process), else per process.
        base = self.token.encode() if self.token else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"syndication-ops\0" + base).digest()

    @property
    def loopback_only(self) -> bool:
        return self.token is None

    def csrf(self) -> str:
        return hmac.new(self._key, b"csrf", hashlib.sha256).hexdigest()

    def token_ok(self, candidate: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self.token.encode())

    def blocked(self, request: Request) -> Verdict | None:
        """429 when the client's address has failed too often, else None."""
        wait = self.throttle.retry_after(client_address(request))
        if wait:
            return Verdict(429, f"too many failed operator tokens from your address; retry in {wait} s",
                           retry_after=wait)
        return None

    def open_session(self) -> str:
        return open_session(self.rt.sessions, self._key, self.rt.settings.ops.session_seconds, utcnow())

    def close_session(self, session_id: str) -> None:
        close_session(self.rt.sessions, self._key, session_id)

    def check(self, request: Request) -> Verdict:
        if self.token is None:
            host = request.client.host if request.client else ""
            # Through a reverse proxy every client looks local: a forwarded request is never "loopback".
            proxied = any(h in request.headers for h in ("forwarded", "x-forwarded-for", "x-real-ip"))
            if _is_loopback(host) and not proxied:
                return Verdict(200)
            return Verdict(403, "no operator token configured: operator pages are served to loopback clients only")
        auth = request.headers.get("authorization", "")
        if auth:
            if (verdict := self.blocked(request)) is not None:
                return Verdict(verdict.status, verdict.reason, False, verdict.retry_after)
            scheme, _, value = auth.partition(" ")
            if scheme.lower() == "bearer" and self.token_ok(value.strip()):
                return Verdict(200, needs_csrf=False)
            self.throttle.failed(client_address(request))
            return Verdict(403, "invalid operator token", False)
        cookie = request.cookies.get(COOKIE)
        if cookie:
            # A session id is 256 random bits: not worth guessing, so a stale cookie (expired, logged out)
            # is no failed attempt and cannot lock its operator out.
            if session_alive(self.rt.sessions, self._key, cookie, utcnow()):
                return Verdict(200)
            return Verdict(403, "your operator session has ended (expired or logged out); log in again")
        return Verdict(401, "operator token required")


def relative(at: datetime, now: datetime) -> str:
    """"6 s ago", "in 4 min", "just now"."""
    delta = (now - at).total_seconds()
    if abs(delta) < 1:
        return "just now"
    return f"{duration(delta)} ago" if delta > 0 else f"in {duration(delta)}"


def when(iso: str | None, missing: str = "never", now: datetime | None = None) -> Markup:
    """A moment human-first: `<time>` saying how long ago (or until), the exact time on hover and in its
    `datetime` attribute (as stored, for scripts and tests)."""
    if not iso:
        return Markup("<span class=\"never\">{}</span>").format(missing)
    at = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if at.tzinfo is None:  # every stamp we store is UTC; one written without its offset still is
        at = at.replace(tzinfo=UTC)
    exact = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso, exact, relative(at, now or utcnow()))


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", "")


def _safe_next(value: str | None, default: str = "/ops") -> str:
    if value and value.startswith("/ops") and not value.startswith("//"):
        return value
    return default


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


CHARTS_CACHE = "ops.charts"


def trend_charts(rt: Runtime, sources: list[dict[str, Any]], now: datetime | None = None) -> list[Drawn]:
    """The dashboard's charts of the last 24 h, from ops_samples. Drawn again only when a sample was written
    or the hour turned (the page refreshes every few seconds; samples come every few minutes)."""
    now = now or utcnow()
    labels = {str(s["id"]): f'{s["partner"]} #{s["id"]}' for s in sources if s.get("id") is not None}
    key = (ops.newest_samples(rt), now.replace(minute=0, second=0, microsecond=0), sorted(labels.items()))
    cached = rt.extras.get(CHARTS_CACHE)
    if cached is not None and cached[0] == key:
        return list(cached[1])
    samples = [Sample._make(row) for row in ops.samples_since(rt, now - timedelta(hours=25))]
    drawn = dashboard_charts(samples, now, rt.settings.ops.sample_seconds, labels)
    rt.extras[CHARTS_CACHE] = (key, drawn)
    return drawn


class _OpsPages:
    """What every ops route shares: the page renderer, the access checks (GET and POST with its CSRF token) and
    the answer to an action (JSON for a bearer client, a redirect with a flash message for the browser)."""

    def __init__(self, rt: Runtime, access: Access) -> None:
        self.rt = rt
        self.access = access

    def page(self, name: str, request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
        body = _env.get_template(name).render(
            service=self.rt.settings.service_name, loopback_only=self.access.loopback_only, csrf=self.access.csrf(),
            classes=STATE_CLASSES, duration=duration, when=when, flash=request.query_params.get("msg"),
            logout=self.access.token is not None and COOKIE in request.cookies, **ctx)
        headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                   "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                              "frame-ancestors 'none'"}
        return HTMLResponse(body, status_code=status, headers=headers)

    def denied(self, request: Request, status: int, reason: str, retry_after: int = 0) -> Response:
        resp: Response
        if _wants_html(request):
            if status == 401:
                resp = self.page("login", request, 401, error=None, next=_safe_next(request.url.path), refresh=0)
            else:
                resp = self.page("login" if self.access.token else "base", request, status, error=reason,
                            next=_safe_next(request.url.path), refresh=0)
        else:
            resp = JSONResponse({"error": reason}, status_code=status)
        if status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="syndication-ops"'
        if retry_after:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    def guard(self, request: Request) -> Response | None:
        v = self.access.check(request)
        return None if v.status == 200 else self.denied(request, v.status, v.reason, v.retry_after)

    async def read_form(self, request: Request, cap: int) -> dict[str, str]:
        raw = await read_limited(request, cap)
        return {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}

    async def guard_post(self, request: Request) -> tuple[Response | None, dict[str, str]]:
        v = await run_in_threadpool(self.access.check, request)  # a session lookup, a throttle in Redis
        if v.status != 200:
            return self.denied(request, v.status, v.reason, v.retry_after), {}
        needs_csrf = v.needs_csrf
        form = await self.read_form(request, FORM_BODY_LIMIT)
        if needs_csrf and (not hmac.compare_digest(form.get("csrf", "").encode(), self.access.csrf().encode())
                           or not _same_origin(request)):
            return JSONResponse({"error": "missing or invalid CSRF token (reload the page)"}, status_code=403), form
        return None, form

    def done(self, request: Request, form: dict[str, str], message: str, status: int = 200) -> Response:
        if request.headers.get("authorization") and not _wants_html(request):
            return JSONResponse({"message": message} if status == 200 else {"error": message}, status_code=status)
        return RedirectResponse(f"{_safe_next(form.get('next'))}?msg={quote(message)}", status_code=303)

    async def act(self, request: Request, fn: Any, *args: Any) -> Response:
        resp, form = await self.guard_post(request)
        if resp is not None:
            return resp
        try:
            message = await run_in_threadpool(fn, self.rt, *args)
        except ops.OpsError as exc:
            if request.headers.get("authorization") and not _wants_html(request):
                return JSONResponse({"error": str(exc)}, status_code=409)
            return self.done(request, form, f"error: {exc}")
        return self.done(request, form, message)


def install(app: FastAPI, rt: Runtime) -> None:
    """Add this area's routes to the app."""
    access = Access(rt, app.state.auth_throttle)
    refresh = rt.settings.ops.refresh_seconds
    view = _OpsPages(rt, access)

    @app.get("/ops", include_in_schema=False)
    def dashboard(request: Request) -> Response:
        if (resp := view.guard(request)) is not None:
            return resp
        snap = ops.snapshot(rt)
        return view.page("dashboard", request, snap=snap, lag=snap["pipeline"]["lag_seconds"], refresh=refresh,
                    charts=trend_charts(rt, snap["sources"]), sample_seconds=rt.settings.ops.sample_seconds)

    @app.get("/ops/status.json", include_in_schema=False)
    def status_json(request: Request) -> Response:
        if (resp := view.guard(request)) is not None:
            return resp
        return JSONResponse(ops.snapshot(rt), headers={"Cache-Control": "no-store"})

    @app.get("/ops/sources/{source_id}", include_in_schema=False)
    def source_page(source_id: RowId, request: Request) -> Response:
        if (resp := view.guard(request)) is not None:
            return resp
        row = next((s for s in ops.source_rows(rt) if s.get("id") == source_id), None)
        if row is None:
            return JSONResponse({"error": f"no source {source_id}"}, status_code=404)
        return view.page("source", request, s=row, polls=ops.recent_polls(rt, source_id), refresh=refresh)

    @app.post("/ops/sources/{source_id}/poll", include_in_schema=False)
    async def poll_now(source_id: RowId, request: Request) -> Response:
        return await view.act(request, ops.poll_now, source_id)

    @app.post("/ops/sources/{source_id}/pause", include_in_schema=False)
    async def pause(source_id: RowId, request: Request) -> Response:
        return await view.act(request, ops.set_paused, source_id, True)

    @app.post("/ops/sources/{source_id}/resume", include_in_schema=False)
    async def resume(source_id: RowId, request: Request) -> Response:
        return await view.act(request, ops.set_paused, source_id, False)

    @app.post("/ops/dead-letters/{dead_letter_id}/replay", include_in_schema=False)
    async def replay(dead_letter_id: RowId, request: Request) -> Response:
        return await view.act(request, ops.replay, dead_letter_id)

    @app.post("/ops/deliveries/{delivery_id}/retry", include_in_schema=False)
    async def retry(delivery_id: RowId, request: Request) -> Response:
        return await view.act(request, ops.retry_delivery, delivery_id)

    @app.get("/ops/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        if access.token is None:
            return RedirectResponse("/ops", status_code=303)
        return view.page("login", request, error=None, next=_safe_next(request.query_params.get("next")), refresh=0)

    @app.post("/ops/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if access.token is None:
            return RedirectResponse("/ops", status_code=303)
        # The credential is in the body: a blocked address is answered before a byte of it is read, and no
        # body is read past LOGIN_BODY_LIMIT (413).
        if (blocked := await run_in_threadpool(access.blocked, request)) is not None:
            refused = view.page("login", request, 429, error=blocked.reason, next="/ops", refresh=0)
            refused.headers["Retry-After"] = str(blocked.retry_after)
            return refused
        form = await view.read_form(request, LOGIN_BODY_LIMIT)
        if not access.token_ok(form.get("token", "")):
            await run_in_threadpool(access.throttle.failed, client_address(request))
            return view.page("login", request, 403, error="wrong operator token", next=_safe_next(form.get("next")),
                        refresh=0)
        session_id = await run_in_threadpool(access.open_session)
        resp = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        resp.set_cookie(COOKIE, session_id, max_age=rt.settings.ops.session_seconds, httponly=True,
                        samesite="strict", path="/", secure=request.url.scheme == "https")
        return resp

    @app.post("/ops/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        # Ends the session in the database, so the cookie is refused by every process even if a copy of it
        # survives in the browser (or elsewhere).
        if access.token is not None and (cookie := request.cookies.get(COOKIE)):
            access.close_session(cookie)
        resp = RedirectResponse("/ops/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        if (resp := view.guard(request)) is not None:
            return resp
        return Response(render(rt), media_type=CONTENT_TYPE_LATEST)
