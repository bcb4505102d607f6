"""Drop folders: which files are ready to take, and where taken files go."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

FEED_SUFFIXES = {".xml", ".rss", ".atom", ".json"}
IN_TRANSFER_SUFFIXES = {".part", ".tmp", ".partial", ".crdownload", ".filepart"}


@dataclass(frozen=True, slots=True)
class DropFile:
    path: Path
    name: str
    sha256: str
    body: bytes


def ready_files(folder: Path, now_ts: float, settle_seconds: float) -> list[Path]:
    """Files complete enough to take: feed suffix, not hidden, not in transfer, settled by mtime."""
    out = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        raise FileNotFoundError(f"folder does not exist: {folder}") from None
    for entry in entries:
        name = entry.name
        if name.startswith(".") or not entry.is_file(follow_symlinks=False):
            continue
        suffix = Path(name).suffix.lower()
        if suffix in IN_TRANSFER_SUFFIXES or suffix not in FEED_SUFFIXES:
            continue
        if now_ts - entry.stat().st_mtime < settle_seconds:
            continue
        out.append(Path(entry.path))
    return out


def read_drop(path: Path) -> DropFile:
    body = path.read_bytes()
    return DropFile(path=path, name=path.name, sha256=hashlib.sha256(body).hexdigest(), body=body)


def headers_for(name: str) -> dict[str, str]:
    """The content type a dropped file is read as, by its name: `*.ninjs.json` is ninjs (a JSON Feed looks
    alike, so only the name tells them apart), other `*.json` JSON Feed, the rest XML."""
    from syndication.intake.parse import NINJS_TYPE  # lazy: start-up: intake.parse brings lxml and feedparser

    lower = name.lower()
    if lower.endswith(".ninjs.json"):
        return {"content-type": NINJS_TYPE}
    return {"content-type": "application/feed+json" if lower.endswith(".json") else "application/xml"}


def move_aside(path: Path, state: str, error: str | None = None) -> Path:
    """Move a processed file into done/ or failed/ (beside a <name>.error.txt for failures)."""
    target_dir = path.parent / state
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        stem, n = path.name, 1
        while (target_dir / f"{stem}.{n}").exists():
            n += 1
        target = target_dir / f"{stem}.{n}"
    if error is not None:
        (target_dir / f"{target.name}.error.txt").write_text(error + "\n", encoding="utf-8")
    shutil.move(str(path), str(target))
    return target
