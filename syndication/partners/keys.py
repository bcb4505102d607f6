"""Push-API keys: issue, verify, revoke. Only a keyed hash of each key is stored.

A key looks like ``synd_<prefix>_<secret>``: ``prefix`` (8 hex characters) is public and finds the
row; ``secret`` is 32 random bytes (``secrets.token_urlsafe``). The stored hash is
HMAC-SHA256(pepper, key), compared in constant time (``hmac.compare_digest``).

Why HMAC-SHA256 with a pepper and not scrypt: a slow hash protects low-entropy secrets (passwords)
against offline guessing. Our keys carry 256 bits of entropy, so guessing is hopeless either way,
while scrypt would cost tens of milliseconds of CPU and memory on *every* API request — a
denial-of-service lever on a small machine. The pepper (a server-side secret kept outside the
database) means that a leaked database alone does not even let anyone check a candidate key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from syndication.db.models import PushKey
from syndication.kernel.settings import Settings

KEY_SCHEME = "synd"
PEPPER_FILE = "push-key-pepper"
_KEY_RE = re.compile(r"^synd_([0-9a-f]{8})_([A-Za-z0-9_-]{20,128})$")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    partner_id: str
    prefix: str
    key: str  # shown once, never stored

    def __repr__(self) -> str:  # never print the secret by accident
        return f"IssuedKey(partner_id={self.partner_id!r}, prefix={self.prefix!r}, key=***)"


@dataclass(frozen=True, slots=True)
class KeyCheck:
    outcome: Literal["ok", "missing", "malformed", "unknown", "revoked"]
    partner_id: str | None = None
    prefix: str | None = None


def new_key() -> tuple[str, str]:
    """A fresh (prefix, key) pair."""
    prefix = secrets.token_hex(4)
    return prefix, f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"


def split_key(key: str) -> str | None:
    """The public prefix of a well-formed key, else None."""
    m = _KEY_RE.match(key)
    return m.group(1) if m else None


def hash_key(key: str, pepper: bytes) -> bytes:
    return hmac.new(pepper, key.encode("utf-8"), hashlib.sha256).digest()


def load_pepper(settings: Settings) -> bytes:
    """The configured pepper, or one generated once under the data dir (0600)."""
    if settings.api.key_pepper is not None and settings.api.key_pepper.get_secret_value():
        return settings.api.key_pepper.get_secret_value().encode("utf-8")
    path = settings.data_dir / PEPPER_FILE
    try:
        return _read_pepper(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{PEPPER_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        with contextlib.suppress(FileExistsError):  # another process won the race: use its pepper
            os.link(tmp, path)  # atomic: never a half-written pepper file
    finally:
        tmp.unlink(missing_ok=True)
    return _read_pepper(path)


def _read_pepper(path: Path) -> bytes:
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise ValueError(f"{path}: push-key pepper is too short; delete it only if no key was issued yet")
    return value.encode("ascii")


def issue_key(session: Session, partner_id: str, pepper: bytes, now: datetime) -> IssuedKey:
    prefix, key = new_key()
    session.add(PushKey(partner_id=partner_id, prefix=prefix, key_hash=hash_key(key, pepper), created_at=now))
    session.flush()
    return IssuedKey(partner_id, prefix, key)


def revoke_keys(session: Session, partner_id: str, now: datetime, prefix: str | None = None) -> list[str]:
    """Revoke the partner's active keys (or the one with `prefix`); return the prefixes revoked."""
    query = select(PushKey).where(PushKey.partner_id == partner_id, PushKey.revoked_at.is_(None))
    if prefix is not None:
        query = query.where(PushKey.prefix == prefix)
    revoked = []
    for row in session.scalars(query.order_by(PushKey.id)):
        row.revoked_at = now
        revoked.append(row.prefix)
    return revoked


def verify_key(session: Session, key: str | None, pepper: bytes) -> KeyCheck:
    """Which partner a presented key belongs to, or why it is not accepted."""
    if not key:
        return KeyCheck("missing")
    prefix = split_key(key)
    if prefix is None:
        return KeyCheck("malformed")
    digest = hash_key(key, pepper)
    match: PushKey | None = None
    # Compare against every row with this prefix (collisions are possible, if rare).
    for row in session.scalars(select(PushKey).where(PushKey.prefix == prefix).order_by(PushKey.id)):
        if hmac.compare_digest(bytes(row.key_hash), digest):
            match = row
    if match is None:
        return KeyCheck("unknown", prefix=prefix)
    if match.revoked_at is not None:
        return KeyCheck("revoked", match.partner_id, prefix)
    return KeyCheck("ok", match.partner_id, prefix)
