"""Shared helpers of the scaled-mode and fault tests: config files, worker processes, waiting with reasons."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from syndication.cli.scale import start_worker, stop_worker, wait_worker_ready

REPO = Path(__file__).resolve().parents[2]

# Short limits so a lost task comes back in seconds, not minutes (production: docs/scaling-out.md).
FAST_CELERY = {
    "SYNDICATION_CELERY__SOFT_TIME_LIMIT": "6",
    "SYNDICATION_CELERY__TIME_LIMIT": "8",
    "SYNDICATION_CELERY__VISIBILITY_TIMEOUT": "10",
    "SYNDICATION_CELERY__RESTORE_INTERVAL": "1",
    "SYNDICATION_CELERY__RETRY_BACKOFF": "0.5",
    "SYNDICATION_CELERY__RETRY_BACKOFF_MAX": "2",
    "SYNDICATION_CELERY__MAX_RETRIES": "4",
}


def write_config(path: Path, partners: Sequence[tuple[str, str]], interval: int = 300) -> Path:
    """A TOML config with one feed source per (partner id, feed url)."""
    lines = []
    for pid, url in partners:
        lines += [
            "[[partners]]", f'id = "{pid}"', f'name = "{pid.title()} Agency"', f'credit = "{pid.title()} news agency"',
            'license_url = "https://creativecommons.org/licenses/by/4.0/"',
            "[[partners.sources]]", 'kind = "feed"', f'url = "{url}"', f"interval = {interval}", "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def scaled_env(data_dir: Path, broker_url: str, database_url: str, config: Path, **extra: str) -> dict[str, str]:
    env = {
        "SYNDICATION_BROKER_URL": broker_url,
        "SYNDICATION_DATABASE_URL": database_url,
        "SYNDICATION_DATA_DIR": str(data_dir),
        "SYNDICATION_FETCH__ALLOW_PRIVATE_ADDRESSES": "true",
        "SYNDICATION_CONFIG": str(config),
        "SYNDICATION_PUBLISH__DEBOUNCE": "0.2",
        "PYTHONPATH": str(REPO),
        # Own Redis keys: tests of other sessions may share the Redis database number.
        "SYNDICATION_CELERY__KEY_PREFIX": f"t{uuid.uuid4().hex[:10]}:",
        **FAST_CELERY,
    }
    env.update(extra)
    return env


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1,
             on_fail: Callable[[], str] | None = None) -> Any:
    """Poll until predicate() is truthy; fail with a message saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = on_fail() if on_fail else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{detail}")
        time.sleep(interval)


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"({path} missing)"


class WorkerProc:
    def __init__(self, env: dict[str, str], log: Path, queues: str = "fetch,publish,notify",
                 concurrency: int = 1, name: str = "w1") -> None:
        self.log = log
        self.proc = start_worker(env, queues=queues, concurrency=concurrency, hostname=f"{name}@%h", log=log,
                                 cwd=REPO)

    def ready(self, timeout: float = 60) -> WorkerProc:
        wait_worker_ready(self.proc, self.log, timeout)
        return self

    def kill(self) -> None:
        stop_worker(self.proc, kill=True)

    def stop(self) -> None:
        stop_worker(self.proc, kill=False, timeout=15)

    def received(self, task: str) -> int:
        return sum(1 for line in tail(self.log, 10**8).splitlines()
                   if f"Task {task}[" in line and line.endswith("] received"))


@contextmanager
def workers() -> Iterator[list[WorkerProc]]:
    """Collect workers started in the block; SIGKILL every one of them (and their children) at the end."""
    started: list[WorkerProc] = []
    try:
        yield started
    finally:
        for w in started:
            w.kill()


def syndication_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "syndication.cli.app", *args]


def start_process(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env={**os.environ, **env}, cwd=REPO, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def open_scaled_runtime(env: dict[str, str], monkeypatch: Any) -> Any:
    """The scheduler side in this process: same settings as the workers, dispatching over Celery."""
    from syndication.kernel.settings import load_settings
    from syndication.runtime.context import open_runtime
    from syndication.runtime.dispatch import CeleryDispatcher

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    rt = open_runtime(settings)
    rt.dispatcher = CeleryDispatcher(settings)
    return rt


def atom_entries(data_dir: Path, channel: str = "all") -> list[Any]:
    import feedparser

    path = data_dir / "public" / "feeds" / f"{channel}.atom"
    return list(feedparser.parse(path.read_bytes()).entries) if path.exists() else []
