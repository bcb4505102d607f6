"""CLI commands of the push-API area (partner keys)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `syndication` app."""
