"""CLI commands of the [scale-out] area, and helpers to start Celery workers programmatically.

- `syndication worker [-Q fetch,process] [-c N] [-n NAME]` runs `celery -A workers worker` with our queues
  (exec: the process becomes the Celery worker, so signals and exit codes are Celery's).
- `syndication queues [--json]` shows the length of every queue and how many tasks are unacknowledged
  (delivered to a worker, not finished) in Redis — what to watch in scaled mode.

For tests and bench/: `worker_argv(...)`, `start_worker(env, ...)`, `wait_worker_ready(...)`, `stop_worker(proc)`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Annotated

import typer

from syndication.cli.common import _state, emit_json, fail, out, runtime, settings
from syndication.cli.operators import render_queues
from syndication.runtime.tasks import QUEUES

ALL_QUEUES = ",".join(QUEUES)


def celery_executable() -> list[str]:
    """The `celery` next to this interpreter (same venv), else `python -m celery`."""
    beside = Path(sys.executable).parent / "celery"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("celery")
    return [found] if found else [sys.executable, "-m", "celery"]


def worker_argv(
    queues: str | Sequence[str] = ALL_QUEUES,
    concurrency: int = 1,
    hostname: str | None = None,
    loglevel: str = "INFO",
    pool: str = "prefork",
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of one worker process group, e.g. `celery -A workers worker -Q fetch -c 8`."""
    q = queues if isinstance(queues, str) else ",".join(queues)
    unknown = [name for name in q.split(",") if name not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue(s) {', '.join(unknown)}; queues are {ALL_QUEUES}")
    argv = [*celery_executable(), "-A", "workers", "worker", "-Q", q, "-c", str(concurrency), "-P", pool,
            "--loglevel", loglevel, "--without-mingle", "--without-gossip"]
    if hostname:
        argv += ["-n", hostname]
    return [*argv, *extra]


def start_worker(
    env: Mapping[str, str] | None = None,
    *,
    queues: str | Sequence[str] = ALL_QUEUES,
    concurrency: int = 1,
    hostname: str | None = None,
    log: Path | IO[bytes] | None = None,
    cwd: str | Path | None = None,
    loglevel: str = "INFO",
) -> subprocess.Popen[bytes]:
    """Start a worker in its own process group (so `stop_worker(kill=True)` takes its pool children too).

    `env` is added to os.environ (SYNDICATION_BROKER_URL, SYNDICATION_DATABASE_URL, SYNDICATION_CONFIG, ...).
    `log` (a path or a binary file) receives stdout and stderr.
    """
    full_env = {**os.environ, **(env or {})}
    out: IO[bytes] | int = subprocess.DEVNULL
    if isinstance(log, Path):
        out = log.open("ab")
    elif log is not None:
        out = log
    return subprocess.Popen(
        worker_argv(queues, concurrency, hostname, loglevel), env=full_env, cwd=cwd, stdout=out,
        stderr=subprocess.STDOUT, start_new_session=True,
    )


def wait_worker_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    """Block until the worker logs `ready.`; raise RuntimeError (with the log's tail) if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if " ready." in text:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode} before it was ready:\n{text[-3000:]}")
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"worker not ready after {timeout:.0f}s:\n{tail}")


def stop_worker(proc: subprocess.Popen[bytes], *, kill: bool = False, timeout: float = 20.0) -> int | None:
    """Warm shutdown (SIGTERM: finish running tasks) or, with kill=True, SIGKILL the whole process group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    elif kill:
        with contextlib.suppress(ProcessLookupError):  # the main process is gone; no pool child may survive it
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `syndication` app."""

    @app.command()
    def worker(
        queues: Annotated[str, typer.Option("-Q", "--queues", help=f"Comma-separated, of {ALL_QUEUES}.")] = ALL_QUEUES,
        concurrency: Annotated[int, typer.Option("-c", "--concurrency", min=1, help="Pool processes.")] = 1,
        hostname: Annotated[str | None, typer.Option("-n", "--hostname", help="Worker name (celery -n).")] = None,
        loglevel: Annotated[str, typer.Option("--loglevel")] = "INFO",
    ) -> None:
        """Scaled-out role: a Celery worker for the given queues (same as `celery -A workers worker -Q ...`)."""
        s = settings()
        if s.embedded:
            raise fail("a worker needs a broker: set SYNDICATION_BROKER_URL (redis://...)")
        if _state.config:  # the worker reads its settings from the environment
            os.environ["SYNDICATION_CONFIG"] = str(Path(_state.config).resolve())
        try:
            argv = worker_argv(queues, concurrency, hostname, loglevel)
        except ValueError as exc:
            raise fail(str(exc)) from None
        sys.stdout.flush()
        os.execv(argv[0], argv)

    @app.command()
    def queues(as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False) -> None:
        """Work waiting and running: Celery queues in Redis when scaled out, the embedded executor's otherwise."""
        s = settings()
        if s.embedded:
            # lazy: start-up: the database stack loads only for this command
            from syndication.operations.ops import embedded_queues

            rt = runtime(s)
            try:
                state = {"mode": "embedded", **embedded_queues(rt)}
            finally:
                rt.close()
        else:
            # lazy: start-up: redis loads only in a Celery deployment
            from syndication.operations.ops import redis_queues

            try:
                state = {"mode": "scaled", **redis_queues(s.broker_url, key_prefix=s.celery.key_prefix)}
            except Exception as exc:
                raise fail(f"broker not answering: {exc.__class__.__name__}: {exc}", code=1) from None
        if as_json:
            emit_json(state)
            return
        from rich.text import Text  # lazy: start-up: Rich is not needed by --json

        from syndication.cli.listing import show

        if state["mode"] == "embedded":
            running = f"{state['running']} poll(s) running (embedded executor, read from the database)"
        else:
            age = state["oldest_running_age_seconds"]
            running = f"unacked: {state['running']} running or lost" + (f" (oldest {age:.0f}s)" if age else "")
        show(out(), render_queues(state, terminal=out().is_terminal), Text(running))
