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

from syndication.pipeline.text import mark_forbidden_references, serialised_parts, xml_legal

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
    # The parser decodes character references after xml_legal has looked: those to characters XML forbids are
    # made ones it decodes into U+0001, which xml_legal takes out of its output (the serialiser writes no
    # numeric references, so re-cleaning below brings none back).
    marked = mark_forbidden_references(fragment)
    if marked is not None:
        fragment = marked
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
    if marked is not None:
        out = xml_legal(out).strip()
    # Removing a disallowed element can leave a tree html5ever serialises in a form it would parse
    # differently (e.g. `<p><p></p></p>` after an <object> goes). Re-clean until the output is stable,
    # so that sanitising is idempotent and what we store is what any reader will parse. The attribute
    # values are already filtered (see `urls_clean`), so these passes run without the filter. Most
    # output is plainly stable (`_parses_back`): the check costs a tenth of the pass it spares.
    for _ in range(3):
        if _parses_back(out):
            break
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


# What `_parses_back` knows of HTML's tree construction (WHATWG "in body", "in table" and their kin), for the
# allowlisted elements only.
_VOID = frozenset({"br", "col", "hr", "img", "source", "wbr"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Start tags that close an open <p> in button scope.
_CLOSE_P = _HEADINGS | {"blockquote", "dd", "details", "div", "dl", "dt", "figcaption", "figure", "hr", "li", "ol",
                        "p", "pre", "summary", "table", "ul"}
_BUTTON_SCOPE = frozenset({"caption", "table", "td", "th"})
_SPECIAL = _CLOSE_P | {"caption", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"}
# In table context only these open (in place); any other element or text there is moved before the table.
_TABLE_CONTENT = {"table": frozenset({"caption", "colgroup", "tbody", "thead", "tfoot"}),
                  "tbody": frozenset({"tr"}), "thead": frozenset({"tr"}), "tfoot": frozenset({"tr"}),
                  "tr": frozenset({"td", "th"}), "colgroup": frozenset({"col"})}
_TABLE_PARTS = frozenset().union(*_TABLE_CONTENT.values())
# Start tags that none of `_parses_back`'s rules but the table context concerns: opened where they stand.
_PLAIN_START = frozenset(
    ALLOWED_TAGS - {"rp", "rt", "a", "li", "dd", "dt"} - _CLOSE_P - _HEADINGS - _TABLE_PARTS - _VOID)
_PARSES_BACK_TAGS = (ALLOWED_TAGS - {"rp", "rt"}) | {"/" + t for t in ALLOWED_TAGS - {"rp", "rt"}}


def _parses_back(out: str) -> bool:
    """Whether parsing `out` (the cleaner's serialisation) is sure to give the same tree, so re-cleaning it would
    return it unchanged. A conservative walk over its tags: well nested, and no start tag that the parser would
    treat otherwise than by opening it where it stands (one that closes an open <p>, a second <a> or list item
    inside another, a heading in a heading, table parts out of place, text or elements directly in a table, the
    newline a <pre> drops, a carriage return). False means "not sure": the re-cleaning pass decides."""
    if "\r" in out:
        return False
    parts = serialised_parts(out)
    names = parts[1::2]
    if len(names) != out.count("<") or not _PARSES_BACK_TAGS.issuperset(names):
        return False
    texts = parts[0::2]
    stack: list[str] = []
    top = ""
    for i, name in enumerate(names):
        if name in _PLAIN_START:
            # Most tags (the spans of highlighted code, emphasis): only a table context can move them.
            if top in _TABLE_CONTENT:
                return False
            stack.append(name)
            top = name
            continue
        if name[0] == "/":
            if name[1:] != top:
                return False
            stack.pop()
            top = stack[-1] if stack else ""
        else:
            allowed_here = _TABLE_CONTENT.get(top)
            if (name not in allowed_here) if allowed_here is not None else (name in _TABLE_PARTS):
                return False
            if name in _CLOSE_P and not _no_p_in_button_scope(stack):
                return False
            if name in _HEADINGS and top in _HEADINGS:
                return False
            if name == "li" and _open_before_special(stack, ("li",)):
                return False
            if name in ("dd", "dt") and _open_before_special(stack, ("dd", "dt")):
                return False
            if name == "a" and _a_open_since_marker(stack):
                return False
            if name == "pre" and texts[i + 1][:1] == "\n":
                return False
            if name not in _VOID:
                stack.append(name)
                top = name
        if top in _TABLE_CONTENT and texts[i + 1] and not texts[i + 1].isspace():
            return False
    return not stack


def _no_p_in_button_scope(stack: list[str]) -> bool:
    for node in reversed(stack):
        if node == "p":
            return False
        if node in _BUTTON_SCOPE:
            return True
    return True


def _open_before_special(stack: list[str], names: tuple[str, ...]) -> bool:
    """Whether one of `names` is open with no special element (but div and p) above it: a new one closes it."""
    for node in reversed(stack):
        if node in names:
            return True
        if node in _SPECIAL and node not in ("div", "p"):
            return False
    return False


def _a_open_since_marker(stack: list[str]) -> bool:
    for node in reversed(stack):
        if node == "a":
            return True
        if node in ("td", "th", "caption"):
            return False
    return False
