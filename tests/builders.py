"""Build small feed documents for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape

BASE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def article(n: int, place: str = "BAKU", partner_credit: str = "Turan news agency") -> str:
    return (
        f"<p>{place}, {n} November – Story number {n} begins with a dateline.</p>"
        f"<p>Body paragraph of story {n} with <a href=\"/news/{n}?utm_source=x\">a link</a>.</p>"
        f"<p>source: example.org with {partner_credit}, Baku.</p>"
        f"<p>photo: Picture {n} (picture courtesy of contact.az)</p>"
        "<h3>Related articles</h3><ul><li><a href=\"/other\">Another story</a></li></ul>"
    )


def rss(items: list[dict[str, str]] | int, title: str = "Test Agency", link: str = "https://agency.example/") -> str:
    if isinstance(items, int):
        items = [rss_item(i) for i in range(items)]
    body = "".join(
        "<item>"
        + (f"<title>{escape(it['title'])}</title>" if it.get("title") is not None else "")
        + (f"<link>{escape(it['link'])}</link>" if it.get("link") else "")
        + (f"<guid isPermaLink=\"false\">{escape(it['guid'])}</guid>" if it.get("guid") else "")
        + (f"<pubDate>{it['date']}</pubDate>" if it.get("date") else "")
        + (f"<description>{escape(it['html'])}</description>" if it.get("html") is not None else "")
        + "".join(f"<category>{escape(c)}</category>" for c in it.get("categories", "").split(",") if c)
        + "</item>"
        for it in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link><description>d</description>"
        f"{body}</channel></rss>"
    )


def rss_item(i: int, **over: str) -> dict[str, str]:
    item = {
        "title": f"Story {i}",
        "link": f"https://agency.example/news/{i}",
        "guid": f"agency-{i}",
        "date": format_datetime(BASE + timedelta(hours=i)),
        "html": article(i),
    }
    item.update(over)
    return item


def atom(entries: int, title: str = "Atom Agency") -> str:
    parts = []
    for i in range(entries):
        ts = (BASE + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts.append(
            f"<entry><id>tag:agency.example,2026:{i}</id><title>Atom story {i}</title>"
            f'<link rel="alternate" href="https://agency.example/a/{i}"/>'
            f"<updated>{ts}</updated><published>{ts}</published><author><name>Writer {i}</name></author>"
            f'<content type="html">{escape(article(i))}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>tag:agency.example,2026:feed</id><title>{title}</title>"
        f"<updated>{BASE.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>"
        '<link rel="alternate" href="https://agency.example/"/>' + "".join(parts) + "</feed>"
    )
