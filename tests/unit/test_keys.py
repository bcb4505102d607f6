"""Push-API keys: format, keyed hashing, pepper handling (pure, plus a temp file for the pepper)."""

from __future__ import annotations

import hmac
import stat
from pathlib import Path

import pytest

from syndication.kernel.settings import load_settings
from syndication.partners.keys import PEPPER_FILE, IssuedKey, hash_key, load_pepper, new_key, split_key


def test_new_key_has_public_prefix_and_long_secret() -> None:
    prefix, key = new_key()
    assert len(prefix) == 8 and all(c in "0123456789abcdef" for c in prefix)
    scheme, got_prefix, secret = key.split("_", 2)
    assert scheme == "synd" and got_prefix == prefix
    assert len(secret) >= 43  # 32 random bytes, base64url
    assert split_key(key) == prefix


def test_keys_are_unique() -> None:
    keys = {new_key()[1] for _ in range(200)}
    assert len(keys) == 200


@pytest.mark.parametrize("bad", ["", "synd_", "synd_abc_xyz", "synd_ABCDEF12_" + "a" * 43, "sk_0123abcd_" + "a" * 43,
                                 "synd_0123abcd_short", "synd_0123abcd_" + "a" * 43 + " ", "synd_0123abcd_" + "é" * 43])
def test_split_key_rejects_malformed(bad: str) -> None:
    assert split_key(bad) is None


def test_hash_depends_on_key_and_pepper() -> None:
    _, key = new_key()
    h = hash_key(key, b"p" * 32)
    assert len(h) == 32 and h == hash_key(key, b"p" * 32)
    assert h != hash_key(key, b"q" * 32)
    assert h != hash_key(key[:-1] + ("A" if key[-1] != "A" else "B"), b"p" * 32)
    assert key.encode() not in h
    assert hmac.compare_digest(h, hash_key(key, b"p" * 32))


def test_issued_key_repr_hides_the_secret() -> None:
    prefix, key = new_key()
    issued = IssuedKey("turan", prefix, key)
    assert key not in repr(issued) and prefix in repr(issued)


def test_generated_pepper_is_private_and_stable(tmp_path: Path) -> None:
    s = load_settings(None, data_dir=str(tmp_path / "var"))
    first = load_pepper(s)
    path = tmp_path / "var" / PEPPER_FILE
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32 and load_pepper(s) == first
    assert [p.name for p in path.parent.iterdir()] == [PEPPER_FILE]  # no temp file left behind


def test_configured_pepper_wins(tmp_path: Path) -> None:
    s = load_settings(None, data_dir=str(tmp_path / "var"), api={"key_pepper": "x" * 40})
    assert load_pepper(s) == b"x" * 40
    assert not (tmp_path / "var" / PEPPER_FILE).exists()
    assert "x" * 40 not in repr(s.api)


def test_short_pepper_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / PEPPER_FILE).write_text("short\n")
    with pytest.raises(ValueError, match="too short"):
        load_pepper(load_settings(None, data_dir=str(tmp_path / "var")))
