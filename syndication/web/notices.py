"""HTTP routes of this area, installed by syndication.web.app.create_app."""

from __future__ import annotations

from fastapi import FastAPI

from syndication.runtime import Runtime


def install(app: FastAPI, rt: Runtime) -> None:
    """Add this area's routes to the app."""
