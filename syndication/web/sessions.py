"""Operator browser sessions (/ops/login), kept in the database so every web process honours a logout.

The cookie carries a random session id (256 bits); the table `ops_sessions` keeps only HMAC-SHA256 of it
under a key derived from the operator token, so a database dump yields no usable cookie and a new token
ends every session. A session lasts `ops.session_seconds` from login; logout deletes its row.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from syndication.db.models import OpsSession
from syndication.db.session import transaction

MAX_SESSION_ID = 128  # ours are 43 characters; anything much longer is not worth a lookup


def session_hash(key: bytes, session_id: str) -> str:
    return hmac.new(key, b"ops-session\0" + session_id.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def open_session(sessions: sessionmaker[Session], key: bytes, lifetime: int, now: datetime) -> str:
    """A new session id (for the cookie); expired rows are pruned on the way."""
    session_id = secrets.token_urlsafe(32)
    with transaction(sessions) as db:
        db.execute(delete(OpsSession).where(OpsSession.expires_at <= now))
        db.add(OpsSession(id_hash=session_hash(key, session_id), created_at=now,
                          expires_at=now + timedelta(seconds=lifetime)))
    return session_id


def session_alive(sessions: sessionmaker[Session], key: bytes, session_id: str, now: datetime) -> bool:
    if not session_id or len(session_id) > MAX_SESSION_ID:
        return False
    with sessions() as db:
        row = db.get(OpsSession, session_hash(key, session_id))
        return row is not None and row.expires_at > now


def close_session(sessions: sessionmaker[Session], key: bytes, session_id: str) -> None:
    if not session_id or len(session_id) > MAX_SESSION_ID:
        return
    with transaction(sessions) as db:
        db.execute(delete(OpsSession).where(OpsSession.id_hash == session_hash(key, session_id)))
