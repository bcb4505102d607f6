"""The `syndication` command: the Typer app (app.py), what every command shares (common.py), and one module
per command area, each with `register(app)`. The top layer: nothing imports it."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`syndication.cli:main`, the entry point a `syndication` script installed before the move still names
    (`pip install -e .` writes `syndication.cli.app:main`); imported on use, so the commands' modules never
    load the app."""
    if name == "main":
        from syndication.cli.app import main  # lazy: start-up: the area modules import this package, never the app

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
