"""CLI commands grouped by area; each module has `register(app)` and is wired in syndication.cli."""
