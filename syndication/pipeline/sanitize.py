"""HTML sanitising with nh3, an allowlist modelled on Miniflux's, and URL rewriting.

nh3 (ammonia) does the parsing and the allowlist; we add what it does not: resolving relative URLs
against the entry's base, stripping tracking parameters, and keeping only http(s) links.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import nh3

from syndication.pipeline.text import xml_legal

ALLOWED_TAGS = {
    "a", "abbr", "b", "bdi", "bdo", "blockquote", "br", "caption", "cite", "code", "col", "colgroup",
    "dd", "del", "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "picture", "pre", "q",
    "rp", "rt", "ruby", "s", "samp", "small", "source", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "img": {"src", "alt", "title", "width", "height", "srcset", "sizes"},
    "source": {"src", "srcset", "sizes", "type", "media"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "time": {"datetime"},
    "q": {"cite"},
    "del": {"datetime"},
    "ins": {"datetime"},
    "ol": {"start", "reversed", "type"},
    "col": {"span"},
    "colgroup": {"span"},
}
URL_ATTRIBUTES = {"href", "src", "cite"}
TRACKING_PARAMS = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "mc_cid", "mc_eid", "yclid", "igshid",
    "_hsenc", "_hsmi", "mkt_tok", "ref_src", "twclid", "oly_anon_id", "oly_enc_id", "vero_id", "__s",
}


_URL_STRIP = re.compile("[\t\n\r\x7f]")


def strip_tracking(url: str) -> str:
    if "?" not in url:
        return url
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if not (k.lower().startswith("utm_") or k.lower() in TRACKING_PARAMS)]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def clean_url(url: str | None, base: str | None = None) -> str | None:
    """Absolute http(s) URL without tracking parameters, or None."""
    if not url:
        return None
    # As browsers do (WHATWG URL): drop tabs/newlines, trim; and nothing XML cannot carry. (Printable
    # ASCII has none of those characters: skip the two regex passes, run for every link of every body.)
    if not (url.isascii() and url.isprintable()):
        url = _URL_STRIP.sub("", xml_legal(url))
    url = url.strip().replace(" ", "%20")
    if (url.startswith(("http://", "https://")) and url.isascii() and _has_host(url)
            and (base is None or "/." not in url) and "[" not in url and "]" not in url):
        # An absolute http(s) URL with a host, nothing to resolve: urlsplit would only confirm it (it raises
        # on brackets, checked for an IPv6 host, and normalises non-ASCII hosts: those take the full way).
        return strip_tracking(url)
    try:
        if base and not (url.startswith(("http://", "https://")) and "/." not in url and _has_host(url)):
            url = _join(base, url)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return strip_tracking(url)


def _has_host(url: str) -> bool:
    """Whether an http(s) URL names a host: urljoin resolves "https://", "https:///x" or "https://?q" against the
    base's host, so those take the slow way."""
    rest = url[url.index("//") + 2:]
    return rest[:1] not in ("", "/", "?", "#")


def _join(base: str, url: str) -> str:
    """urljoin, with the two commonest cases of a news body done directly: an absolute http(s) URL
    without dot segments resolves to itself, and a root-relative path without dot segments ("/news/1")
    to the base's origin + path. Tested equal to urljoin."""
    # urljoin also drops an empty query or fragment ("/?", "/a?#b", "/a#"): those go the slow way.
    if (url.startswith("/") and not url.startswith("//") and "/." not in url and "\\" not in url
            and "?#" not in url and not url.endswith(("?", "#"))):
        origin = _origin(base)
        if origin is not None:
            return origin + url
    return urljoin(base, url)


@functools.lru_cache(maxsize=1024)
def _origin(base: str) -> str | None:
    parts = urlsplit(base)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


IFRAME_ATTRIBUTES = {"src", "width", "height", "title", "allowfullscreen", "loading"}
# `data:` URLs are kept only on <img src>, only for these raster types, and only when small.
DATA_IMAGE = re.compile(r"^data:image/(?:png|gif|jpeg|jpg|webp);base64,[A-Za-z0-9+/=\s]+$", re.I)
MAX_DATA_IMAGE_CHARS = 16 * 1024


def safe_data_image(value: str) -> str | None:
    value = value.strip()
    if len(value) > MAX_DATA_IMAGE_CHARS or not DATA_IMAGE.match(value):
        return None
    return "".join(value.split())


def host_allowed(url: str, hosts: Iterable[str]) -> bool:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in (h.lower().strip(".") for h in hosts) if h)


# The entry being sanitised: its base URL and the partner's iframe hosts. The filter is a module-level
# function so each `nh3.Cleaner` (its allowlist converted once, not per call) is built once per set of
# iframe hosts; a context variable is per thread, so concurrent polls do not see each other's base.
_URL_CONTEXT: ContextVar[tuple[str | None, tuple[str, ...]]] = ContextVar("sanitize_url_context", default=(None, ()))


def _filter(tag: str, attr: str, value: str) -> str | None:
    base_url, hosts = _URL_CONTEXT.get()
    if tag == "iframe" and attr == "src":
        url = clean_url(value, base_url)
        return url if url and host_allowed(url, hosts) else None
    if attr in URL_ATTRIBUTES:
        if tag == "img" and attr == "src" and value.lstrip()[:5].lower() == "data:":
            return safe_data_image(value)
        return clean_url(value, base_url)
    if attr == "srcset":
        return None if base_url is None and "://" not in value else _clean_srcset(value, base_url)
    return value


@functools.lru_cache(maxsize=256)
def _cleaners(hosts: tuple[str, ...]) -> tuple[nh3.Cleaner, nh3.Cleaner]:
    """(with the URL filter, without it) for this set of iframe hosts."""
    tags = ALLOWED_TAGS | {"iframe"} if hosts else ALLOWED_TAGS
    attributes = {**ALLOWED_ATTRIBUTES, "iframe": IFRAME_ATTRIBUTES} if hosts else ALLOWED_ATTRIBUTES
    options: dict[str, Any] = {"tags": tags, "attributes": attributes, "url_schemes": {"http", "https", "data"},
                               "link_rel": "noopener noreferrer", "strip_comments": True}
    return nh3.Cleaner(attribute_filter=_filter, **options), nh3.Cleaner(**options)


def sanitize_html(
    fragment: str | None, base_url: str | None = None, *, iframe_hosts: Iterable[str] = (), urls_clean: bool = False
) -> str:
    """Allowlisted, XML-legal, NFC HTML with absolute http(s) URLs only.

    Iframes survive only with a `src` on a host in `iframe_hosts` (a partner's policy); small raster
    `data:` images survive on <img src>; every other `data:`/`javascript:` URL is dropped.

    `urls_clean=True` is for HTML whose attributes are already this function's output (sanitised HTML
    with elements removed): the URL filter, a Python call per attribute and the costliest part, is
    skipped because every rewrite it makes is idempotent (`clean_url`, `safe_data_image`, srcset, the
    iframe host check each map their own output to itself).
    """
    if not fragment:
        return ""
    fragment = unicodedata.normalize("NFC", xml_legal(fragment))
    hosts = tuple(iframe_hosts)
    filtered, plain = _cleaners(hosts)
    if urls_clean:
        out = plain.clean(fragment).strip()
    else:
        token = _URL_CONTEXT.set((base_url, hosts))
        try:
            out = filtered.clean(fragment).strip()
        finally:
            _URL_CONTEXT.reset(token)
    # Removing a disallowed element can leave a tree html5ever serialises in a form it would parse
    # differently (e.g. `<p><p></p></p>` after an <object> goes). Re-clean until the output is stable,
    # so that sanitising is idempotent and what we store is what any reader will parse. The attribute
    # values are already filtered (see `urls_clean`), so these passes run without the filter.
    for _ in range(3):
        again = plain.clean(out).strip()
        if again == out:
            break
        out = again
    if hosts and "<iframe" in out:
        out = _IFRAME.sub(_iframe, out).strip()
    return out


# An iframe's content is raw text that html5ever passes through unescaped; some readers would parse it as
# markup. Keep allowed iframes empty; remove one whose src was refused (with whatever it held).
_IFRAME = re.compile(r"<iframe(\s[^>]*)?>(.*?)(?:</iframe>|$)", re.S | re.I)


def _iframe(m: re.Match[str]) -> str:
    attrs = m.group(1) or ""
    return f"<iframe{attrs}></iframe>" if re.search(r"\ssrc=", attrs) else ""


def _clean_srcset(value: str, base: str | None) -> str | None:
    out = []
    for candidate in value.split(","):
        bits = candidate.strip().split()
        if not bits:
            continue
        url = clean_url(bits[0], base)
        if url:
            out.append(" ".join([url, *bits[1:]]))
    return ", ".join(out) or None
