"""HTTP fetching of partner feeds: conditional GET, redirects by hand, limits, private-address guard.

httpx does the protocol work; what it does not do (a body cap enforced while streaming, refusing
private addresses on the address actually connected to, redirect policy) is here.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

Resolver = Callable[[str, int], list[str]]


class FetchError(Exception):
    """A fetch that failed for a reason worth recording on the source."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class BlockedAddress(FetchError):
    pass


class LimitExceeded(FetchError):
    pass


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    allow_private_addresses: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_body_bytes: int = 15 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "syndication/0.1"
    per_host_concurrency: int = 2


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never print secrets, even by accident
        return "Credentials(***)"


@dataclass(slots=True)
class FetchResult:
    url: str  # the URL finally fetched
    status: int
    headers: dict[str, str]
    body: bytes
    not_modified: bool = False
    # The new permanent URL when every redirect in the chain was permanent (301/308).
    permanent_url: str | None = None
    redirects: list[tuple[int, str]] = field(default_factory=list)


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_blocked_ip(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


class HostLimiter:
    """At most N requests in flight per host, shared by every fetch of this process."""

    def __init__(self, per_host: int) -> None:
        self._per_host = max(1, per_host)
        self._lock = threading.Lock()
        self._sems: dict[str, threading.BoundedSemaphore] = {}

    def for_host(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            sem = self._sems.get(host)
            if sem is None:
                sem = self._sems[host] = threading.BoundedSemaphore(self._per_host)
            return sem


_limiters: dict[int, HostLimiter] = {}
_limiters_lock = threading.Lock()


def host_limiter(per_host: int) -> HostLimiter:
    with _limiters_lock:
        if per_host not in _limiters:
            _limiters[per_host] = HostLimiter(per_host)
        return _limiters[per_host]


def check_url(url: str, policy: FetchPolicy, resolver: Resolver) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refused URL scheme {parts.scheme!r} (only http and https)")
    host = parts.hostname
    if not host:
        raise FetchError(f"URL has no host: {url}")
    if policy.allow_private_addresses:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(host, port)
    except OSError as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    for address in addresses:
        if is_blocked_ip(address):
            raise BlockedAddress(f"refused: {host} resolves to non-public address {address}")


def _peer_address(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        peer = stream.get_extra_info("server_addr")
    except Exception:  # pragma: no cover - transport without that info
        return None
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return None


def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    credentials: Credentials | None = None,
    client: httpx.Client | None = None,
    resolver: Resolver = _system_resolver,
) -> FetchResult:
    """GET a feed; raise FetchError for anything that is not a usable document or a 304."""
    own_client = client is None
    if client is None:
        client = httpx.Client(
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            follow_redirects=False,
            trust_env=False,
        )
    try:
        return _fetch(url, policy, etag, last_modified, credentials, client, resolver)
    finally:
        if own_client:
            client.close()


def _fetch(
    url: str,
    policy: FetchPolicy,
    etag: str | None,
    last_modified: str | None,
    credentials: Credentials | None,
    client: httpx.Client,
    resolver: Resolver,
) -> FetchResult:
    redirects: list[tuple[int, str]] = []
    all_permanent = True
    current = url
    origin_host = urlsplit(url).hostname
    for _hop in range(policy.max_redirects + 1):
        check_url(current, policy, resolver)
        headers = {
            "User-Agent": policy.user_agent,
            "Accept": "application/atom+xml, application/rss+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        auth: httpx.Auth | None = None
        # Credentials go only to the partner's own host, never to a redirect target elsewhere.
        if credentials and urlsplit(current).hostname == origin_host:
            if credentials.token:
                headers["Authorization"] = f"Bearer {credentials.token}"
            elif credentials.username is not None:
                auth = httpx.BasicAuth(credentials.username, credentials.password or "")
        host = urlsplit(current).hostname or ""
        with host_limiter(policy.per_host_concurrency).for_host(host):
            try:
                with client.stream("GET", current, headers=headers, auth=auth) as response:
                    peer = _peer_address(response)
                    if peer and not policy.allow_private_addresses and is_blocked_ip(peer):
                        raise BlockedAddress(f"refused: connected address {peer} of {host} is not public")
                    status = response.status_code
                    if status in (301, 302, 303, 307, 308):
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(f"HTTP {status} redirect without Location", status=status)
                        target = urljoin(current, location)
                        redirects.append((status, target))
                        all_permanent = all_permanent and status in (301, 308)
                        current = target
                        continue
                    resp_headers = {k.lower(): v for k, v in response.headers.items()}
                    if status == 304:
                        return FetchResult(
                            current, status, resp_headers, b"", True,
                            current if redirects and all_permanent else None, redirects,
                        )
                    if status >= 400:
                        raise FetchError(
                            f"HTTP {status} {response.reason_phrase}".strip(),
                            status=status,
                            retry_after=response.headers.get("retry-after"),
                        )
                    if status != 200:
                        raise FetchError(f"unexpected HTTP {status}", status=status)
                    body = _read_capped(response, policy.max_body_bytes)
                    return FetchResult(
                        current, status, resp_headers, body, False,
                        current if redirects and all_permanent else None, redirects,
                    )
            except httpx.ConnectTimeout:
                raise FetchError(f"connect timeout after {policy.connect_timeout:g}s to {host}") from None
            except httpx.ReadTimeout:
                raise FetchError(f"read timeout after {policy.read_timeout:g}s from {host}") from None
            except httpx.ConnectError as exc:
                raise FetchError(f"connection failed to {host}: {exc}") from None
            except httpx.DecodingError as exc:
                raise FetchError(f"cannot decode response body: {exc}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"HTTP error from {host}: {exc.__class__.__name__}: {exc}") from None
    raise FetchError(f"too many redirects (more than {policy.max_redirects})")


def _read_capped(response: httpx.Response, cap: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and "content-encoding" not in response.headers and int(declared) > cap:
        raise LimitExceeded(f"body limit: Content-Length {declared} exceeds the {cap} byte cap")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():  # decompressed bytes: the cap holds after decoding
        size += len(chunk)
        if size > cap:
            raise LimitExceeded(f"body limit: more than {cap} bytes (after decompression)")
        chunks.append(chunk)
    return b"".join(chunks)
