"""CLI commands grouped by area; each module has `register(app)` and is wired in syndication.cli;
they share syndication.cli_common (never syndication.cli itself: the app imports them)."""
