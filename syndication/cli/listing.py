"""Tables the commands print: Rich tables on a terminal, plain aligned columns anywhere else.

On a terminal a table fits the window: short columns (ids, states, counts) and every header never wrap, and
only the columns holding free text (URLs, errors, titles) fold. Piped or redirected, a table is plain text a
script or `grep` can read: one line per row, columns separated by spaces, no box characters, no colour, no
wrapping at any width (a cell's own line breaks become "; ").

Imported on use (Rich costs ~50 ms): `--json` never needs this module.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

PLAIN_WIDTH = 1_000_000  # "no width": a plain table's rows are never wrapped or cut


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    justify: Literal["left", "right"] = "left"
    # Free text (a URL, an error, a title): the one kind of column that folds on a narrow terminal.
    wide: bool = False


Cell = str | Text


class Listing:
    """One table, shaped for where it is printed (`terminal`); a Rich renderable either way."""

    def __init__(self, title: str, columns: Sequence[Column | str], *, terminal: bool,
                 title_style: str | None = None) -> None:
        self.terminal = terminal
        # min_width: Rich wraps a title to its table's width, and an empty table is narrow.
        if terminal:
            self.table = Table(title=title, title_style=title_style, min_width=len(title) + 4)
        else:  # the title on its own line: a table is never widened (nor its title wrapped) for it
            self.table = Table(box=None, show_edge=False, pad_edge=False, header_style="")
        self.title = title
        for col in columns:
            c = Column(col) if isinstance(col, str) else col
            if terminal and c.wide:
                self.table.add_column(c.header, justify=c.justify, overflow="fold", min_width=len(c.header))
            else:
                self.table.add_column(c.header, justify=c.justify, no_wrap=True, min_width=len(c.header))

    def add_row(self, *cells: Cell) -> None:
        if self.terminal:
            self.table.add_row(*cells)
            return
        self.table.add_row(*(_one_line(c) for c in cells))

    def __rich__(self) -> RenderableType:
        if self.terminal:
            return self.table
        return Group(Text(self.title), self.table)


def _one_line(cell: Cell) -> Cell:
    if isinstance(cell, Text):
        return Text(cell.plain.replace("\n", "; "))
    return cell.replace("\n", "; ")


def plain_text(*renderables: RenderableType) -> str:
    """Render without a terminal: no colour, no wrapping, no trailing spaces."""
    buf = io.StringIO()
    console = Console(file=buf, width=PLAIN_WIDTH, color_system=None, force_terminal=False, highlight=False,
                      emoji=False, soft_wrap=False)
    for r in renderables:
        console.print(r, crop=False)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def show(console: Console, *renderables: RenderableType) -> None:
    """Print to `console`: as Rich draws it on a terminal, as plain text otherwise."""
    if console.is_terminal:
        for r in renderables:
            console.print(r)
        return
    console.file.write(plain_text(*renderables))
    console.file.flush()


def listing(console: Console, title: str, columns: Sequence[Column | str], rows: Iterable[Sequence[Cell]] = (),
            *, title_style: str | None = None) -> Listing:
    """A table for `console`, with these rows."""
    table = Listing(title, columns, terminal=console.is_terminal, title_style=title_style)
    for row in rows:
        table.add_row(*row)
    return table
