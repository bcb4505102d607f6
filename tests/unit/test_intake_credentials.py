"""Source credentials: sealed at rest, env references never stored, never shown."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from syndication.intake.credentials import (
    CredentialsError,
    describe_credentials,
    load_key,
    open_credentials,
    seal_credentials,
)
from syndication.intake.fetch import Credentials
from syndication.kernel.settings import SourceConfig


def test_literal_secrets_are_sealed_and_open_again() -> None:
    key = Fernet.generate_key()
    record = seal_credentials(key, username="ann", password="hunter2-secret")
    assert record is not None and "hunter2-secret" not in json.dumps(record)
    assert open_credentials(record, key) == Credentials("ann", "hunter2-secret", None)
    with pytest.raises(CredentialsError, match="cannot be opened"):
        open_credentials(record, Fernet.generate_key())
    with pytest.raises(CredentialsError, match="no key"):
        open_credentials(record, None)
    assert describe_credentials(record) == "basic as ann"


def test_env_references_store_only_the_name() -> None:
    record = seal_credentials(None, token_env="AGENCY_TOKEN")
    assert record == {"v": 1, "token_env": "AGENCY_TOKEN"}
    assert open_credentials(record, None, {"AGENCY_TOKEN": "tok-123"}) == Credentials(None, None, "tok-123")
    with pytest.raises(CredentialsError) as err:
        open_credentials(record, None, {})
    assert str(err.value) == "credentials: environment variable AGENCY_TOKEN is not set"
    assert describe_credentials(record) == "bearer (from $AGENCY_TOKEN)"
    basic = seal_credentials(None, username="u", password_env="PW")
    assert describe_credentials(basic) == "basic as u (password from $PW)"


def test_no_credentials_and_plain_legacy_records() -> None:
    assert seal_credentials(None) is None and open_credentials(None, None) is None
    assert open_credentials({"username": "a", "password": "b", "token": None}, None) == Credentials("a", "b", None)
    with pytest.raises(CredentialsError):
        seal_credentials(None, token="literal-without-key")


def test_reprs_never_show_secrets() -> None:
    creds = Credentials("ann", "hunter2-secret", "tok-secret")
    assert "secret" not in repr(creds) and "secret" not in str(creds) and "secret" not in f"{creds}"
    cfg = SourceConfig(kind="feed", url="https://a.example/f", username="ann", password="hunter2-secret")
    assert "hunter2-secret" not in repr(cfg) and "hunter2-secret" not in str(cfg.model_dump())


def test_config_validation_of_credentials() -> None:
    with pytest.raises(ValueError, match="either a bearer token or username"):
        SourceConfig(kind="feed", url="https://a.example/f", username="a", token="t")
    with pytest.raises(ValueError, match="needs a username"):
        SourceConfig(kind="feed", url="https://a.example/f", password_env="PW")
    with pytest.raises(ValueError):
        SourceConfig(kind="feed", url="https://a.example/f", token_env="not a name")


def test_generated_key_file_is_private_and_stable(tmp_path: Path) -> None:
    key = load_key(None, tmp_path)
    assert load_key(None, tmp_path) == key
    mode = stat.S_IMODE((tmp_path / "credentials.key").stat().st_mode)
    assert mode == 0o600
    configured = Fernet.generate_key().decode()
    assert load_key(configured, tmp_path) == configured.encode()
    with pytest.raises(CredentialsError, match="not a valid key"):
        load_key("short", tmp_path)
