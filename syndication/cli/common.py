"""What every command of `syndication` shares: the consoles, JSON output, the one-line error, and the
settings and runtime opened from the global --config option (set by the app's callback, syndication.cli.app).

Start-up is paid by every command, so this module imports only Typer at the top: settings (pydantic),
SQLAlchemy and Rich are imported on use.
"""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from syndication.kernel.settings import Settings


def __getattr__(name: str) -> Any:
    """`console` and `err_console`, made on first use: Rich costs ~50 ms to import, and a command printing
    JSON never needs it."""
    if name in ("console", "err_console"):
        from rich.console import Console  # lazy: start-up: Rich costs ~50 ms, made on first use

        made = globals()[name] = Console(stderr=name == "err_console")
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def out() -> Console:
    """The stdout console (tests may replace `console`)."""
    return globals().get("console") or __getattr__("console")  # type: ignore[no-any-return]


def err() -> Console:
    return globals().get("err_console") or __getattr__("err_console")  # type: ignore[no-any-return]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only.")]


class State:
    config: str | None = None
    held: bool = False  # the process entered through main(): start-up runs without the cyclic collector


_state = State()


def fail(message: str, code: int = 2) -> typer.Exit:
    # Plain write: one line, never wrapped to the terminal width.
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def settings() -> Settings:
    from syndication.kernel.settings import ConfigError, load_settings  # lazy: pydantic is not needed by --help

    try:
        return load_settings(_state.config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def runtime(s: Settings | None = None) -> Any:
    from syndication.kernel.settings import ConfigError
    from syndication.runtime.context import open_runtime  # lazy: the database stack is not needed by --help

    try:
        rt = open_runtime(s or settings())
    except ConfigError as exc:
        raise fail(str(exc)) from None
    settle()
    return rt


def hold_collections() -> None:
    """Start-up allocates a few hundred thousand objects that live until the process ends (modules, SQLAlchemy's
    mapped classes and compiled caches, pydantic's validators): the cyclic collector walking them while they are
    made frees nothing and cost ~60 ms of a no-op `ingest` (gc callbacks: 170 young, 15 middle and one full
    collection). It is off until the command has its runtime (settle)."""
    _state.held = True
    gc.disable()


def settle() -> None:
    """Start-up is over: what it made is frozen (the collector never walks it again, here or in the
    interpreter's last collection at exit, ~100 ms of a no-op `ingest`) and the collector runs again for the
    command's own work. Called when the runtime is open, then by a command that loaded more of the stack; every
    command ends with it (syndication.cli.app.main), so a command that never opens the runtime leaves it on too.
    A reference cycle dropped during start-up is frozen with the rest, never freed: a few objects, once. A
    process that did not enter through main() (tests calling the app) is left as it is."""
    if _state.held:
        gc.freeze()
        gc.enable()


@contextmanager
def loading() -> Iterator[None]:
    """More of the stack loads once the runtime is open (`ingest`: the poll's jobs, fetching, storing): loaded
    like the rest of start-up, without the collector, then frozen with it (settle)."""
    if not _state.held:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        settle()


def setup_logging(level: int | None = None) -> dict[str, Any]:
    """Text or JSON lines per settings.log; returns extra uvicorn.run kwargs (JSON: uvicorn logs via ours)."""
    from syndication.kernel.logs import configure
    from syndication.kernel.settings import ConfigError, load_settings  # lazy: pydantic is not needed by --help

    try:
        cfg = load_settings(_state.config).log
    except ConfigError:
        from syndication.kernel.settings import LogSettings  # lazy: start-up: pydantic is not needed by --help

        cfg = LogSettings()
    configure(cfg.format, level if level is not None else cfg.level)
    extra: dict[str, Any] = {"access_log": cfg.access}
    if cfg.format == "json":
        extra["log_config"] = None
    return extra


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
