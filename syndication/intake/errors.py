"""What intake parsers raise. A module of its own so that every format's parser (intake/ninjs.py, ...) can raise
them while intake/parse.py, which re-exports them, dispatches to those parsers without an import cycle."""

from __future__ import annotations


class ParseError(Exception):
    """The document yields no items; the message says what came back."""


class UnsupportedWireItem(ParseError):
    """An agency-format item of a kind we do not publish (audio, video, event, planning); the message says
    which, and that text, photo and package items are accepted."""
