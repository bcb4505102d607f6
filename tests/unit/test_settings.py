from __future__ import annotations

from pathlib import Path

import pytest

from syndication.kernel.settings import ConfigError, load_settings

GOOD = """
[publish]
window = 7

[[partners]]
id = "turan"
name = "Turan News Agency"
credit = "Turan news agency"
[[partners.sources]]
kind = "feed"
url = "https://turan.az/rss"
interval = 300
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_defaults_without_file() -> None:
    s = load_settings(None)
    assert s.data_dir == Path("var")
    assert s.broker_url == "" and s.embedded
    assert s.fetch.allow_private_addresses is False
    assert s.effective_database_url.startswith("sqlite:///") and s.effective_database_url.endswith("var/syndication.db")


def test_toml_then_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    s = load_settings(path)
    assert s.publish.window == 7 and s.partners[0].sources[0].url == "https://turan.az/rss"
    monkeypatch.setenv("SYNDICATION_PUBLISH__WINDOW", "9")
    monkeypatch.setenv("SYNDICATION_FETCH__ALLOW_PRIVATE_ADDRESSES", "true")
    monkeypatch.setenv("SYNDICATION_DATA_DIR", str(tmp_path / "d"))
    s = load_settings(path)
    assert s.publish.window == 9  # env beats TOML
    assert s.publish.refresh_interval == 300  # the rest of [publish] survives the merge (default: 5 min)
    assert s.fetch.allow_private_addresses is True
    assert s.data_dir == tmp_path / "d"


def test_config_env_var_and_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, GOOD)
    monkeypatch.setenv("SYNDICATION_CONFIG", str(path))
    assert load_settings(None).partners[0].id == "turan"
    monkeypatch.delenv("SYNDICATION_CONFIG")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "syndication.toml").write_text(GOOD.replace("window = 7", "window = 3"))
    monkeypatch.chdir(tmp_path)
    assert load_settings(None).publish.window == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("window = 7", "windw = 7"), "unknown key 'publish.windw'"),
        ("bogus = 1\n" + GOOD, "unknown key 'bogus'"),
        (GOOD + "\nbogus = 1\n", "unknown key 'partners[0].sources[0].bogus'"),
        (GOOD.replace('id = "turan"', 'id = "Turan!"'), "partners[0].id"),
        (GOOD.replace('name = "Turan News Agency"\n', ""), "missing required key 'partners[0].name'"),
        (GOOD.replace("https://turan.az/rss", "ftp://turan.az/rss"), "http(s)"),
        (GOOD.replace('kind = "feed"', 'kind = "carrier-pigeon"'), "partners[0].sources[0].kind"),
        ("[publish\n", "invalid TOML"),
    ],
)
def test_config_errors_name_key_and_file(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message and expected in message
    assert "\n" not in message


def test_duplicate_partner_ids_rejected(tmp_path: Path) -> None:
    text = GOOD + GOOD.split("[publish]\nwindow = 7\n", 1)[1]
    with pytest.raises(ConfigError, match="duplicate partner id 'turan'"):
        load_settings(write(tmp_path, text))


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SYNDICATION_FETCH__ALLOW_PRIVATE_ADRESSES", "true", "unknown key 'fetch.allow_private_adresses'"),
        ("SYNDICATION_PUBLISH__WINDOW", "abc", "publish.window: Input should be a valid integer"),
        ("syndication_publish__window", "0", "publish.window"),  # pydantic-settings ignores the case
        ("SYNDICATION_WEBHOOKS__TIMEOUT", "100", "lease_seconds (120) must exceed"),  # a check over the section
        ("SYNDICATION_PARTNERS", "not json", "not valid JSON"),
    ],
)
def test_environment_errors_name_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    """[newcomer] A bad SYNDICATION_* value is blamed on the variable that set it: the file is fine."""
    path = write(tmp_path, GOOD)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(f"environment variable {variable}: ")
    assert expected in message and str(path) not in message and "\n" not in message


def test_file_errors_still_name_the_file_when_the_environment_sets_other_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD.replace("window = 7", "window = -1"))
    monkeypatch.setenv("SYNDICATION_FETCH__ALLOW_PRIVATE_ADDRESSES", "true")
    monkeypatch.setenv("SYNDICATION_PUBLISH__REFRESH_INTERVAL", "60")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: publish.window")


def test_cli_blames_the_variable_with_exit_2(tmp_path: Path) -> None:
    """Through the real command: one line on stderr, exit 2."""
    import os
    import subprocess
    import sys

    path = write(tmp_path, GOOD)
    env = {**os.environ, "SYNDICATION_PUBLISH__WINDOW": "abc", "SYNDICATION_DATA_DIR": str(tmp_path / "var")}
    proc = subprocess.run([sys.executable, "-m", "syndication.cli.app", "--config", str(path), "status"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: environment variable SYNDICATION_PUBLISH__WINDOW: publish.window: Input should be a valid integer, "
        "unable to parse string as an integer"]


def test_a_sources_bound_on_its_interval(tmp_path: Path) -> None:
    """[newcomer] fetch.max_interval caps every source at 1 h by default; a source's own bound is said wrong
    rather than clamped in silence."""
    s = load_settings(write(tmp_path, GOOD))
    assert s.fetch.max_interval == 3600 and s.partners[0].sources[0].max_interval is None
    s = load_settings(write(tmp_path, GOOD.replace("interval = 300", "interval = 300\nmax_interval = 900")))
    assert s.partners[0].sources[0].max_interval == 900
    with pytest.raises(ConfigError, match=r"partners\[0\]\.sources\[0\]\.max_interval: 7200 is above "
                                          r"fetch\.max_interval \(3600\)"):
        load_settings(write(tmp_path, GOOD.replace("interval = 300", "interval = 300\nmax_interval = 7200")))
    assert load_settings(write(tmp_path, "[fetch]\nmax_interval = 7200\n" + GOOD.replace(
        "interval = 300", "interval = 300\nmax_interval = 7200"))).partners[0].sources[0].max_interval == 7200
    with pytest.raises(ConfigError, match=r"max_interval \(100\) must be at least interval \(300\)"):
        load_settings(write(tmp_path, GOOD.replace("interval = 300", "interval = 300\nmax_interval = 100")))
