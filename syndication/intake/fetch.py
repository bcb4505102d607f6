"""HTTP fetching of partner feeds: conditional GET, redirects by hand, limits, private-address guard.

httpx does the protocol work; what it does not do is here:
- the private-address guard runs inside the connection itself (a guarded httpcore network backend resolves
  the host with our resolver, refuses if any address is non-public and connects only to a checked address),
  so a DNS answer that changes between check and connect (rebinding) cannot reach an internal service;
  every redirect hop goes through the same check;
- the body cap is enforced on the decompressed bytes while streaming (our own gzip/deflate decoding with a
  bounded output per step), so neither a 100 MiB body nor a gzip bomb is ever held in memory;
- a total time limit on top of httpx's connect/read timeouts (a server dripping one byte per second
  never trips a read timeout);
- redirect policy (max N, only 301/308 chains move the stored URL, credentials never leave the origin host).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from syndication.kernel.limiters import HostSlots, SlotsBusy, local_host_slots

Resolver = Callable[[str, int], list[str]]


class FetchError(Exception):
    """A fetch that failed for a reason worth recording on the source."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.headers = headers or {}


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
    total_timeout: float = 120.0


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never print secrets, even by accident
        return "Credentials(***)"

    __str__ = __repr__


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
    peer: str | None = None  # the address actually connected to


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_blocked_ip(address: str) -> bool:
    """True for anything but a global unicast address (IPv4 and IPv6, mapped/embedded IPv4 included)."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            if is_blocked_ip(str(embedded)):
                return True
            if ip.ipv4_mapped is not None:
                ip = embedded
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_url(url: str, policy: FetchPolicy, resolver: Resolver = system_resolver) -> None:
    """Refuse a URL that is not absolute http(s), or whose host resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refused URL scheme {parts.scheme!r} (only http and https): {url[:200]}")
    host = parts.hostname
    if not host:
        raise FetchError(f"URL has no host: {url[:200]}")
    if policy.allow_private_addresses:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchError(f"URL has an invalid port: {url[:200]}") from None
    _resolve_checked(host, port, policy, resolver)


def _resolve_checked(host: str, port: int, policy: FetchPolicy, resolver: Resolver) -> list[str]:
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    if not addresses:
        raise FetchError(f"cannot resolve host {host!r}: no addresses")
    if not policy.allow_private_addresses:
        for address in addresses:
            if is_blocked_ip(address):
                raise BlockedAddress(f"refused: {host} resolves to non-public address {address}")
    return addresses


class GuardedBackend(httpcore.SyncBackend):
    """Connects only to addresses our resolver gave and the guard accepted, then re-checks the peer."""

    def __init__(self, policy: FetchPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self.peers: list[str] = []

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve_checked(host, port, self._policy, self._resolver)
        last: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            sock = stream.get_extra_info("socket")
            peer = str(sock.getpeername()[0]) if sock is not None else address
            if not self._policy.allow_private_addresses and is_blocked_ip(peer):
                stream.close()
                raise BlockedAddress(f"refused: connected address {peer} of {host} is not public")
            self.peers.append(peer)
            return stream
        assert last is not None
        raise last


_ssl_lock = threading.Lock()
_ssl_ctx: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process (loading the CA bundle costs ~20 ms; contexts are thread-safe)."""
    global _ssl_ctx
    with _ssl_lock:
        if _ssl_ctx is None:
            _ssl_ctx = httpx.create_ssl_context(trust_env=False)
        return _ssl_ctx


def _httpx_error(exc: httpcore.TimeoutException | httpcore.NetworkError | httpcore.ProtocolError
                 | httpcore.UnsupportedProtocol, request: httpx.Request) -> httpx.TransportError:
    """httpcore's error as httpx's of the same name (httpx names every one of them alike)."""
    for cls in type(exc).__mro__:
        mapped = getattr(httpx, cls.__name__, None)
        if isinstance(mapped, type) and issubclass(mapped, httpx.TransportError):
            return mapped(str(exc), request=request)
    return httpx.TransportError(str(exc), request=request)  # pragma: no cover - every httpcore error has a name


_HTTPCORE_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                    httpcore.UnsupportedProtocol)


class _Body(httpx.SyncByteStream):
    """A response body read from httpcore, its errors raised as httpx's."""

    def __init__(self, stream: Iterable[bytes], request: httpx.Request) -> None:
        self._stream, self._request = stream, request

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except _HTTPCORE_ERRORS as exc:
            raise _httpx_error(exc, self._request) from exc

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over httpcore's connection pool with our guarded network backend: both are public
    APIs (httpx takes any BaseTransport; httpcore's ConnectionPool takes a network_backend), where
    httpx.HTTPTransport has no hook for the backend."""

    def __init__(self, policy: FetchPolicy, resolver: Resolver) -> None:
        self.backend = GuardedBackend(policy, resolver)
        self._connections = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=4,
            max_keepalive_connections=0,
            network_backend=self.backend,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            answer = self._connections.handle_request(core)
        except _HTTPCORE_ERRORS as exc:
            raise _httpx_error(exc, request) from exc
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(status_code=answer.status, headers=answer.headers,
                              stream=_Body(answer.stream, request), extensions=answer.extensions)

    def close(self) -> None:
        self._connections.close()


def make_client(policy: FetchPolicy, resolver: Resolver = system_resolver) -> httpx.Client:
    return httpx.Client(
        transport=GuardedTransport(policy, resolver),
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        follow_redirects=False,
        trust_env=False,
    )


def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    credentials: Credentials | None = None,
    client: httpx.Client | None = None,
    resolver: Resolver = system_resolver,
    slots: HostSlots | None = None,
) -> FetchResult:
    """GET a feed; raise FetchError for anything that is not a usable document or a 304.

    slots: the per-host concurrency limit to respect (limiters.host_slots: shared through Redis when scaled
    out); without, this process's own."""
    own_client = client is None
    if client is None:
        client = make_client(policy, resolver)
    if slots is None:
        slots = local_host_slots(policy.per_host_concurrency)
    try:
        return _fetch(url, policy, etag, last_modified, credentials, client, resolver, slots)
    except SlotsBusy as exc:
        raise FetchError(f"host busy: {exc}") from None
    finally:
        if own_client:
            client.close()


ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)


def _fetch(
    url: str,
    policy: FetchPolicy,
    etag: str | None,
    last_modified: str | None,
    credentials: Credentials | None,
    client: httpx.Client,
    resolver: Resolver,
    slots: HostSlots,
) -> FetchResult:
    redirects: list[tuple[int, str]] = []
    all_permanent = True
    current = url
    origin = _origin(url)
    deadline = time.monotonic() + policy.total_timeout
    for _hop in range(policy.max_redirects + 1):
        check_url(current, policy, resolver)
        headers = {"User-Agent": policy.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"}
        # Validators belong to the stored URL's document; they are still right along a redirect chain.
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        auth: httpx.Auth | None = None
        # Credentials go only to the partner's own origin, never to a redirect target elsewhere.
        if credentials and _origin(current) == origin:
            if credentials.token:
                headers["Authorization"] = f"Bearer {credentials.token}"
            elif credentials.username is not None:
                auth = httpx.BasicAuth(credentials.username, credentials.password or "")
        host = urlsplit(current).hostname or ""
        with slots.hold(host, wait=policy.total_timeout):
            try:
                with client.stream("GET", current, headers=headers, auth=auth) as response:
                    # The guarded backend checked this peer before a byte of the request was sent.
                    peer = _peer_address(response)
                    status = response.status_code
                    resp_headers = {k.lower(): v for k, v in response.headers.items()}
                    if status in (301, 302, 303, 307, 308):
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(f"HTTP {status} redirect without Location", status=status)
                        target = urljoin(current, location.strip())
                        scheme = urlsplit(target).scheme
                        if scheme not in ("http", "https"):
                            raise FetchError(
                                f"HTTP {status} redirect to refused scheme {scheme!r}: {target[:200]}", status=status
                            )
                        redirects.append((status, target))
                        all_permanent = all_permanent and status in (301, 308)
                        current = target
                        continue
                    permanent = current if redirects and all_permanent else None
                    if status == 304:
                        return FetchResult(current, status, resp_headers, b"", True, permanent, redirects, peer)
                    if status >= 400:
                        reason = f"HTTP {status} {response.reason_phrase}".strip()
                        raise FetchError(reason, status=status, retry_after=resp_headers.get("retry-after"),
                                         headers=resp_headers)
                    if status != 200:
                        raise FetchError(f"unexpected HTTP {status} {response.reason_phrase}".strip(),
                                         status=status, headers=resp_headers)
                    body = read_capped(response, policy.max_body_bytes, deadline, policy.total_timeout)
                    return FetchResult(current, status, resp_headers, body, False, permanent, redirects, peer)
            except httpx.ConnectTimeout:
                raise FetchError(f"connect timeout: no connection to {host} within {policy.connect_timeout:g}s") \
                    from None
            except httpx.ReadTimeout:
                raise FetchError(f"read timeout: {host} sent nothing for {policy.read_timeout:g}s") from None
            except httpx.ConnectError as exc:
                raise FetchError(f"connection failed to {host}: {exc}") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"HTTP error from {host}: {exc.__class__.__name__}: {exc}") from None
            except httpx.InvalidURL as exc:
                # httpx prepares the next request of a redirect itself; a hostile Location fails there.
                raise FetchError(f"invalid URL or redirect Location from {host}: {exc}") from None
    raise FetchError(f"too many redirects (more than {policy.max_redirects}), last to {current[:200]}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or "").lower(), port or (443 if parts.scheme == "https" else 80)


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


class _Decoder:
    """Content-Encoding decoding with a bounded output per step (zlib max_length)."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._raw_deflate_tried = False
        self._followup = self._followup_output = self._done = False
        self._obj = self._new()

    def _new(self) -> Any:
        if self.coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS)  # deflate: zlib wrapper, raw deflate as fallback

    def feed(self, data: bytes, room: int) -> Iterable[bytes]:
        """Yield decoded pieces of at most `room` + 1 bytes each until `data` is consumed."""
        while data:
            if self._done:
                return  # trailing bytes after the last complete member are ignored, as browsers do
            try:
                piece = self._obj.decompress(data, room + 1)
            except zlib.error:
                if self.coding == "deflate" and not self._raw_deflate_tried:
                    self._raw_deflate_tried = True
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                if self._followup and not self._followup_output:
                    self._done = True
                    return
                raise
            data = self._obj.unconsumed_tail
            if self._followup and piece:
                self._followup_output = True
            if self._obj.eof and self._obj.unused_data:  # a further gzip member (or trailing junk)
                data = self._obj.unused_data + data
                self._obj = self._new()
                self._followup, self._followup_output = True, False
            if piece:
                yield piece


def read_capped(response: httpx.Response, cap: int, deadline: float | None = None, total: float = 0.0) -> bytes:
    """The decoded body, refusing more than `cap` bytes after decompression, checked while streaming."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    for c in codings:
        if c not in ("gzip", "x-gzip", "deflate"):
            raise FetchError(f"unsupported Content-Encoding {c!r}", status=response.status_code)
    declared = response.headers.get("content-length", "")
    if not codings and declared.isdigit() and int(declared) > cap:
        raise LimitExceeded(f"body limit: Content-Length {declared} exceeds the {cap} byte cap")
    decoders = [_Decoder(c) for c in reversed(codings)]
    chunks: list[bytes] = []
    size = 0

    def add(piece: bytes) -> None:
        nonlocal size
        size += len(piece)
        if size > cap:
            raise LimitExceeded(f"body limit: more than {cap} bytes" + (" after decompression" if codings else ""))
        chunks.append(piece)

    def run(data: bytes, level: int) -> None:
        if level == len(decoders):
            if data:
                add(data)
            return
        for piece in decoders[level].feed(data, cap - size):
            run(piece, level + 1)

    try:
        for raw in response.iter_raw():
            if deadline is not None and time.monotonic() > deadline:
                raise LimitExceeded(f"time limit: body still arriving after {total:g}s")
            run(raw, 0)
    except zlib.error as exc:
        raise FetchError(f"cannot decode {'+'.join(codings)} response body: {exc}") from None
    return b"".join(chunks)

