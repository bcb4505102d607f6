"""Partner rights policy -> what we publish: policy assembly, rights line, licence name, footer.

Pure. The publisher calls `render_footer` with the attribution stored on the item (and, for a story
carried by several partners, the carriers); it never composes credit text itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from html import escape
from string import Formatter
from typing import Any, Protocol

from syndication.kernel.domain import PartnerPolicy

DEFAULT_ATTRIBUTION_TEMPLATE = (
    'Originally published by {credit}{original_agency_clause} at <a href="{original_url}">{original_url}</a>. '
    "{license_name}"
)
# Used when an item has no original URL: a link to nowhere is worse than no link.
DEFAULT_TEMPLATE_NO_URL = "Originally published by {credit}{original_agency_clause}. {license_name}"
TEMPLATE_FIELDS = frozenset({
    "credit", "original_agency_clause", "original_agency", "original_url", "license_name", "license_url",
    "usage_terms", "rights", "partner_name", "partner_id", "authors", "dateline", "distributing_source",
    "canonical_url", "carriers",
})
LICENSE_NAMES = {
    "creativecommons.org/licenses/by/": "CC BY",
    "creativecommons.org/licenses/by-sa/": "CC BY-SA",
    "creativecommons.org/licenses/by-nd/": "CC BY-ND",
    "creativecommons.org/licenses/by-nc/": "CC BY-NC",
    "creativecommons.org/licenses/by-nc-sa/": "CC BY-NC-SA",
    "creativecommons.org/licenses/by-nc-nd/": "CC BY-NC-ND",
    "creativecommons.org/publicdomain/zero/": "CC0",
    "creativecommons.org/publicdomain/mark/": "Public Domain Mark",
}
_ORG_NOISE = re.compile(
    r"\b(?:news|information|info|press|international|agency|agence|agentliyi|агентство|информационное|"
    r"the|ltd|llc|inc)\b|\.(?:com|org|net|eu|az|ge|am|ru|kz|example)\b|[^\w\s]",
    re.I,
)


class PartnerLike(Protocol):
    id: str
    name: str
    credit: str
    homepage: str | None
    license_url: str | None
    usage_terms: str | None
    copyright: str | None
    language: str | None


def build_policy(partner: PartnerLike, cfg: Any | None = None) -> PartnerPolicy:
    """PartnerPolicy from the partners row plus, when configured, the partner's [normalise] settings."""

    def opt(name: str, default: Any) -> Any:
        return getattr(cfg, name, default) if cfg is not None else default

    return PartnerPolicy(
        id=partner.id,
        name=partner.name,
        credit=partner.credit,
        homepage=partner.homepage,
        license_url=partner.license_url,
        usage_terms=partner.usage_terms,
        copyright=partner.copyright,
        language=partner.language,
        attribution_template=opt("attribution_template", None),
        no_derivatives=bool(opt("no_derivatives", False)),
        tracking_pixel_url=opt("tracking_pixel_url", None),
        default_image_credit=opt("default_image_credit", None),
        furniture_selectors=tuple(opt("furniture_selectors", ())),
        furniture_patterns=tuple(opt("furniture_patterns", ())),
        credit_patterns=credit_tables(opt("credit_patterns", None)),
        credit_agencies=tuple(getattr(opt("credit_patterns", None), "agencies", ()) or ()),
        allowed_iframe_hosts=tuple(h.lower() for h in opt("allowed_iframe_hosts", ())),
        embargo_delay=int(opt("embargo_delay", 0) or 0),
    )


def credit_tables(patterns: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The partner's credit_patterns (a settings model or a plain mapping) as (table, patterns) pairs."""
    if patterns is None:
        return ()
    if hasattr(patterns, "tables"):
        return tuple(patterns.tables())
    return tuple((k, tuple(v)) for k, v in dict(patterns).items() if k != "agencies" and v)


def check_template(template: str) -> str:
    """Raise ValueError naming the problem if the attribution template cannot be rendered."""
    try:
        names = {f for _, f, _, _ in Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ValueError(f"attribution_template: {exc}") from None
    unknown = sorted(n for n in names if n not in TEMPLATE_FIELDS)
    if unknown:
        known = ", ".join(sorted(TEMPLATE_FIELDS))
        raise ValueError(f"attribution_template: unknown field {unknown[0]!r} (known: {known})")
    return template


def rights_line(template: str | None, credit: str, year: int) -> str | None:
    """`© {year} {credit}` -> `© 2026 Turan news agency`; a broken template is used literally."""
    if not template:
        return None
    try:
        return template.format(year=year, credit=credit)
    except (KeyError, IndexError, ValueError):
        return template


def license_name(url: str | None) -> str | None:
    if not url:
        return None
    for frag, name in LICENSE_NAMES.items():
        if frag in url:
            version = url.split(frag, 1)[1].strip("/").split("/")[0]
            return f"{name} {version}".strip()
    return None


@lru_cache(maxsize=4096)
def org_key(name: str | None) -> str:
    """'Turan news agency' / 'Turan' / 'TURAN Information Agency' -> 'turan'; 'commonspace.eu' -> 'commonspace'."""
    if not name:
        return ""
    return " ".join(_ORG_NOISE.sub(" ", name.lower()).split())


def same_org(a: str | None, b: str | None) -> bool:
    ka, kb = org_key(a), org_key(b)
    if not ka or not kb:
        return False
    return ka == kb or ka.split()[0] == kb.split()[0]


def agency_clause(credit: str, agency: str | None) -> str:
    return f", reporting by {agency}" if agency and not same_org(agency, credit) else ""


def render_footer(
    attribution: Mapping[str, Any],
    *,
    fallback_credit: str = "",
    fallback_url: str | None = None,
    carriers: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The attribution footer appended to a republished body (HTML). Values are escaped; the template is
    the operator's (trusted) markup."""
    a = attribution
    credit = str(a.get("credit") or fallback_credit)
    url = a.get("original_url") or fallback_url
    agency = a.get("original_agency")
    lic_url = a.get("license_url")
    lic_name = a.get("license_name") or license_name(lic_url)
    lic_html = ""
    if lic_url:
        lic_html = f'<a href="{escape(lic_url)}" rel="license">{escape(lic_name or "Licence")}</a>.'
    elif lic_name:
        lic_html = escape(lic_name) + "."
    others = [c for c in carriers if c.get("partner_id") != a.get("partner_id")]
    values = {
        "credit": escape(credit),
        "original_agency_clause": escape(agency_clause(credit, agency)),
        "original_agency": escape(agency or ""),
        "original_url": escape(url or ""),
        "license_name": lic_html,
        "license_url": escape(lic_url or ""),
        "usage_terms": escape(a.get("usage_terms") or ""),
        "rights": escape(a.get("rights") or ""),
        "partner_name": escape(a.get("partner_name") or ""),
        "partner_id": escape(a.get("partner_id") or ""),
        "authors": escape(", ".join(a.get("authors") or ())),
        "dateline": escape(a.get("dateline_place") or ""),
        "distributing_source": escape(a.get("distributing_source") or ""),
        "canonical_url": escape(a.get("canonical_url") or url or ""),
        "carriers": escape(", ".join(str(c.get("credit") or c.get("partner_id")) for c in others)),
    }
    template = a.get("attribution_template") or (DEFAULT_ATTRIBUTION_TEMPLATE if url else DEFAULT_TEMPLATE_NO_URL)
    try:
        main = template.format_map(_Blank(values))
        used = {f for _, f, _, _ in Formatter().parse(template) if f}
    except (ValueError, IndexError, AttributeError):
        main = DEFAULT_TEMPLATE_NO_URL.format_map(_Blank(values))
        used = set()
    parts = [" ".join(main.split())]
    # Said once: a template that names these fields has placed them itself. The distributing source is left
    # out when it is the credited partner itself ("source: commonspace.eu with APA" on commonspace.eu's item).
    dist = a.get("distributing_source")
    if dist and "distributing_source" not in used and not same_org(dist, credit):
        parts.append(f"Distributed by {escape(dist)}.")
    terms = " ".join(str(a.get("usage_terms") or "").split())
    if terms and "usage_terms" not in used:
        parts.append(f"Usage terms: {escape(terms)}" + ("" if terms.endswith((".", "!", "?")) else "."))
    for row in a.get("image_credits") or ():
        credit_text = row.get("credit") or ""
        caption = row.get("caption")
        if not credit_text:
            continue
        label = f"{escape(caption)}: " if caption else ""
        parts.append(f"Photo: {label}{escape(credit_text)}.")
    if others:
        names = ", ".join(_carrier_html(c) for c in others)
        parts.append(f"Also carried by {names}.")
    footer = '<p class="syndication-attribution">' + " ".join(p for p in parts if p) + "</p>"
    pixel = a.get("tracking_pixel_url")
    if pixel:
        footer += f'\n<img src="{escape(pixel)}" width="1" height="1" alt="" class="syndication-pixel">'
    return footer


def _carrier_html(c: Mapping[str, Any]) -> str:
    name = escape(str(c.get("credit") or c.get("partner_name") or c.get("partner_id") or ""))
    url = c.get("url")
    return f'<a href="{escape(url)}">{name}</a>' if url else name


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""
