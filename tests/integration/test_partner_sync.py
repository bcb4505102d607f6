"""The configured partners and sources are upserted at every start (partners.registry.sync_partners), read in
two queries: a changed interval updates the row, a source listed twice is one row, a row added since (not in the
config) is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from syndication.db.models import Partner, Source
from syndication.kernel.clock import utcnow
from syndication.kernel.settings import Settings
from syndication.partners.registry import sync_partners
from syndication.runtime.context import open_runtime


def settings(tmp_path: Path, interval: int, twice: bool = False) -> Settings:
    feed = {"kind": "feed", "url": "https://agency.example/rss", "interval": interval}
    partners: list[dict[str, Any]] = [
        {"id": "turan", "name": "Turan", "sources": [feed, feed] if twice else [feed]},
        {"id": "apa", "name": "APA", "sources": [{"kind": "feed", "url": "https://apa.example/rss"}]},
    ]
    return Settings.model_validate({"data_dir": str(tmp_path), "partners": partners})


def rows(rt: Any) -> list[tuple[str, str, int]]:
    with rt.sessions() as session:
        return [(s.partner_id, s.locator, s.interval) for s in session.scalars(select(Source).order_by(Source.id))]


def test_sync_updates_in_place_and_keeps_one_row_per_source(tmp_path: Path) -> None:
    rt = open_runtime(settings(tmp_path, 300, twice=True))
    try:
        assert rows(rt) == [("turan", "https://agency.example/rss", 300), ("apa", "https://apa.example/rss", 300)]
        with rt.sessions.begin() as session:
            session.add(Partner(id="added", name="Added", credit="Added", created_at=utcnow(), updated_at=utcnow()))
        sync_partners(rt.sessions, settings(tmp_path, 600))
        assert rows(rt) == [("turan", "https://agency.example/rss", 600), ("apa", "https://apa.example/rss", 300)]
        with rt.sessions() as session:
            assert set(session.scalars(select(Partner.id))) == {"turan", "apa", "added"}
    finally:
        rt.close()
