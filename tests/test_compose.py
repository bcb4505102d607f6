"""docker-compose.yml (validated without Docker): every command it runs exists, every SYNDICATION_* variable
it sets is a setting, and the deployment has what [scale-out] asks for."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from syndication.cli.app import app as cli_app
from syndication.kernel.settings import Settings
from syndication.runtime.tasks import QUEUES

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = {name: svc for name, svc in SERVICES.items() if svc.get("build") or svc.get("image", "").startswith(
    "syndication")}
NOT_SETTINGS = {"SYNDICATION_CONFIG"}  # the config file's path, read before the settings


def commands() -> list[tuple[str, list[str]]]:
    return [(name, [str(a) for a in svc["command"]]) for name, svc in APP_SERVICES.items()]


def test_compose_has_the_roles() -> None:
    assert {"redis", "postgres", "web", "scheduler", "flower"} <= set(SERVICES)
    assert set(APP_SERVICES) >= {"web", "scheduler", "flower"}
    assert SERVICES["scheduler"].get("deploy", {}).get("replicas", 1) >= 2
    redis_cmd = " ".join(SERVICES["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--maxmemory-policy noeviction" in redis_cmd
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["postgres"]["volumes"])
    for name in ("redis", "postgres", "web"):
        assert "healthcheck" in SERVICES[name], name
    for name, svc in APP_SERVICES.items():
        deps = svc.get("depends_on", {})
        assert deps.get("redis", {}).get("condition") == "service_healthy", name
        assert deps.get("postgres", {}).get("condition") == "service_healthy", name


def test_workers_cover_every_queue() -> None:
    covered: set[str] = set()
    for name, argv in commands():
        if argv[:4] == ["celery", "-A", "workers", "worker"]:
            queues = argv[argv.index("-Q") + 1].split(",")
            assert set(queues) <= set(QUEUES), (name, queues)
            covered |= set(queues)
            assert "healthcheck" in APP_SERVICES[name] and APP_SERVICES[name].get("stop_grace_period"), name
    assert covered == set(QUEUES)


@pytest.mark.parametrize(("service", "argv"), [c for c in commands() if c[1][0] == "syndication"])
def test_syndication_commands_exist(service: str, argv: list[str]) -> None:
    # The whole command line, options included, must parse: `--help` is eager, unknown options fail first.
    result = CliRunner().invoke(cli_app, [*argv[1:], "--help"])
    assert result.exit_code == 0, f"{service}: {' '.join(argv)} --help -> {result.exit_code}\n{result.output}"


@pytest.mark.parametrize(("service", "argv"), [c for c in commands() if c[1][0] == "celery"])
def test_celery_commands_exist(service: str, argv: list[str]) -> None:
    """`celery -A workers <worker|flower> ...` with the compose options: the app imports, the options parse."""
    from click.testing import CliRunner as ClickRunner

    if argv[3] == "flower":
        pytest.importorskip("flower", reason="flower is the optional `scale` extra: pip install -e .[scale]")
    from celery.bin.celery import celery

    result = ClickRunner().invoke(celery, [*argv[1:], "--help"])
    assert result.exit_code == 0, f"{service}: {' '.join(argv)} --help -> {result.exit_code}\n{result.output[-2000:]}"


def _field_for(path: list[str]) -> bool:
    model: type[BaseModel] = Settings
    for i, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i == len(path) - 1:
            return True
        ann = field.annotation
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return False
        model = ann
    return False


def compose_env() -> dict[str, str]:
    out: dict[str, str] = {}
    for svc in APP_SERVICES.values():
        out.update({k: str(v) for k, v in (svc.get("environment") or {}).items()})
    return out


def test_every_variable_is_a_setting() -> None:
    env = compose_env()
    variables = [k for k in env if k.startswith("SYNDICATION_")]
    assert {"SYNDICATION_DATABASE_URL", "SYNDICATION_BROKER_URL", "SYNDICATION_DATA_DIR"} <= set(variables)
    for key in variables:
        if key in NOT_SETTINGS:
            continue
        assert _field_for(key.removeprefix("SYNDICATION_").lower().split("__")), f"{key} is not a setting"
    assert _field_for(["celery", "visibility_timeout"]) and not _field_for(["celery", "nope"])


def test_compose_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in compose_env().items():
        if key.startswith("SYNDICATION_") and key not in NOT_SETTINGS:
            monkeypatch.setenv(key, value)
    s = Settings()
    assert not s.embedded and s.effective_database_url.startswith("postgresql://")
    assert s.celery.time_limit < s.celery.visibility_timeout
    # The config file the containers use ships in the image.
    assert compose_env()["SYNDICATION_CONFIG"] == "/app/config/syndication.toml"
    assert (REPO / "config" / "syndication.toml").is_file()


def test_dockerfile_builds_the_project_with_flower() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert 'pip install ".[scale]"' in text
    for part in ("syndication", "workers", "config", "pyproject.toml"):
        assert f"COPY {part}" in text or part in text.split("COPY", 1)[1]
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("flower") for dep in extras["scale"])
