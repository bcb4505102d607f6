"""Per-source fetch credentials (HTTP Basic or a bearer token): how they are stored and read back.

- A secret named by an environment variable (`password_env`, `token_env`) is never stored: the source row
  keeps only the variable's name, and the value is read from the environment of the process that fetches.
- A literal secret from the config (`password`, `token`) is stored sealed (Fernet: AES-128-CBC + HMAC-SHA256)
  under `fetch.credentials_key`; unset, a key is generated once in `<data_dir>/credentials.key` (mode 0600).
  Scaled out, give every host the same key (SYNDICATION_FETCH__CREDENTIALS_KEY).
- Nothing here logs or returns a secret except `open_credentials`, whose result goes straight to fetch;
  `Credentials.__repr__` is masked, and status / the API read only `describe_credentials` (no secret).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken

if TYPE_CHECKING:
    from syndication.intake.fetch import Credentials

KEY_FILE = "credentials.key"


class CredentialsError(Exception):
    """Credentials that cannot be used; the message names what is missing, never a secret."""


def load_key(configured: str | None, data_dir: Path) -> bytes:
    """The sealing key: the configured one, else the data dir's key file (created on first use)."""
    if configured:
        key = configured.encode("ascii")
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise CredentialsError("fetch.credentials_key is not a valid key (32 url-safe base64 bytes)") from None
        return key
    path = data_dir / KEY_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def seal_credentials(
    key: bytes | None,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    password_env: str | None = None,
    token_env: str | None = None,
) -> dict[str, Any] | None:
    """The record stored in sources.credentials (None when there are no credentials)."""
    if not any((username, password, token, password_env, token_env)):
        return None
    record: dict[str, Any] = {"v": 1}
    if username is not None:
        record["username"] = username
    if password_env:
        record["password_env"] = password_env
    if token_env:
        record["token_env"] = token_env
    secrets = {k: v for k, v in (("password", password), ("token", token)) if v}
    if secrets:
        if key is None:
            raise CredentialsError("a literal password or token needs a sealing key")
        record["sealed"] = Fernet(key).encrypt(json.dumps(secrets).encode("utf-8")).decode("ascii")
    return record


def open_credentials(
    record: Mapping[str, Any] | None, key: bytes | None, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """Credentials to fetch with; raise CredentialsError naming a missing variable or an unusable key."""
    if not record:
        return None
    # Start-up: intake.fetch brings httpx (~0.1 s with its CLI's imports); sealing credentials (partner set-up,
    # at every command's start) needs none of it, only fetching does.
    from syndication.intake.fetch import Credentials  # lazy: start-up (above)

    env = os.environ if environ is None else environ
    if record.get("v") != 1:  # a plain record (written before sealing existed)
        return Credentials(record.get("username"), record.get("password"), record.get("token"))
    secrets: dict[str, str] = {}
    if record.get("sealed"):
        if key is None:
            raise CredentialsError("stored credentials are sealed and no key is available")
        try:
            secrets = json.loads(Fernet(key).decrypt(str(record["sealed"]).encode("ascii")))
        except InvalidToken:
            raise CredentialsError(
                "stored credentials cannot be opened with this fetch.credentials_key (was the key changed?)"
            ) from None
    for field, var in (("password", record.get("password_env")), ("token", record.get("token_env"))):
        if var:
            value = env.get(var)
            if not value:
                raise CredentialsError(f"credentials: environment variable {var} is not set")
            secrets[field] = value
    return Credentials(record.get("username"), secrets.get("password"), secrets.get("token"))


def describe_credentials(record: Mapping[str, Any] | None) -> str | None:
    """What an operator may see: the scheme and where the secret comes from, never the secret."""
    if not record:
        return None
    if record.get("username") is not None:
        src = f" (password from ${record['password_env']})" if record.get("password_env") else ""
        return f"basic as {record['username']}{src}"
    return f"bearer (from ${record['token_env']})" if record.get("token_env") else "bearer"


def seal_secret(key: bytes, secret: str) -> str:
    """One secret sealed under the credentials key ([wire] a WebSub subscription's hub.secret)."""
    return Fernet(key).encrypt(secret.encode("utf-8")).decode("ascii")


def open_secret(key: bytes, sealed: str) -> str:
    """The secret `seal_secret` sealed; CredentialsError (naming no secret) when the key cannot open it."""
    try:
        return Fernet(key).decrypt(sealed.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise CredentialsError(
            "a sealed secret cannot be opened with this fetch.credentials_key (was the key changed?)"
        ) from None
