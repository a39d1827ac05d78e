"""Tables that stay readable at 80 columns, on a wide terminal and in a pipe.

Numbers, ids and statuses are never wrapped or cut; text that may wrap (names, notes) folds
onto more lines. When the terminal is too narrow for every column, optional columns are left
out, lowest priority first; when even the others do not fit, the table is printed wider than
the terminal rather than cut. Without a terminal (a pipe, a file) and without `COLUMNS`, the
consoles have no width limit (`cli_console`): a table prints at its natural width, so nothing
is cut for a reader who cannot resize a window, and one row stays one line for `grep`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

NATURAL = 10_000  # wider than any table: the width at which nothing wraps
WRAP_MIN = 20  # a text column narrower than this reads as a column of syllables


def cli_console(*, stderr: bool = False) -> Console:
    """A console as wide as the terminal, or `COLUMNS`; unlimited in a pipe."""
    limited = Console(stderr=stderr).is_terminal or (os.environ.get("COLUMNS") or "").isdigit()
    return Console(stderr=stderr, soft_wrap=True, width=None if limited else NATURAL)


@dataclass(frozen=True)
class Col:
    header: str
    numeric: bool = False
    #: 0: always shown; otherwise left out, highest first, when the width is too short.
    drop: int = 0
    wrap: bool = False


class _AtLeast:
    """A table rendered at `width` even where the console is narrower (never cut)."""

    def __init__(self, table: Table, width: int) -> None:
        self.table, self.width = table, width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines: Iterator[list[Segment]] = iter(
            console.render_lines(self.table, options.update_width(self.width), pad=False)
        )
        for line in lines:
            yield from line
            yield Segment.line()


def build(
    columns: Sequence[Col], rows: Sequence[Sequence[str | Text]], title: str | None = None
) -> Table:
    table = Table(title=title, title_justify="left")
    for index, col in enumerate(columns):
        texts = [Text.from_markup(col.header)] + [
            c if isinstance(c, Text) else Text.from_markup(c) for c in (row[index] for row in rows)
        ]
        longest = max(text.cell_len for text in texts)
        word = max((len(w) for text in texts for w in text.plain.split()), default=1)
        table.add_column(
            col.header,
            justify="right" if col.numeric else "left",
            no_wrap=not col.wrap,
            overflow="fold" if col.wrap else "ellipsis",
            min_width=max(word, min(longest, WRAP_MIN)) if col.wrap else longest,
        )
    for row in rows:
        table.add_row(*row)
    return table


def fit(
    console: Console,
    columns: Sequence[Col],
    rows: Sequence[Sequence[str | Text]],
    title: str | None = None,
) -> tuple[Table, int]:
    """The table with the columns that fit, and the width to print it at."""
    width = console.width
    shown = list(range(len(columns)))
    while True:
        table = build([columns[i] for i in shown], [[row[i] for i in shown] for row in rows], title)
        needed = Measurement.get(console, console.options.update_width(NATURAL), table)
        optional = [i for i in shown if columns[i].drop]
        if needed.minimum <= width or not optional:
            return table, max(width, needed.minimum)
        shown.remove(max(optional, key=lambda i: (columns[i].drop, i)))


def print_table(
    console: Console,
    columns: Sequence[Col],
    rows: Sequence[Sequence[str | Text]],
    title: str | None = None,
) -> None:
    table, width = fit(console, columns, rows, title)
    console.print(table if width <= console.width else _AtLeast(table, width))
