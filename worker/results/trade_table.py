"""The HTML report's trade list: the first and last trades as table rows, built in one pass.

The list is the largest table of a report (up to ``2 × TRADES_SHOWN_EACH_END`` rows of 13
cells). Through the template each cell cost an attribute lookup and an escape; here the
times are formatted column-wise by numpy, the numbers by one format string per row, and
only the cells that carry text from the data (symbol, side, exit reason) are escaped, each
distinct text once.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from html import escape
from itertools import chain

import polars as pl
from markupsafe import Markup

from worker.results.time_text import time_texts

TRADES_SHOWN_EACH_END = 100

_ROW = (
    '<tr><td class="num muted">{:,}</td><td>{}</td><td>{}</td>'
    '<td>{}</td><td class="num">{:,.4f}</td><td>{}</td>'
    '<td class="num">{:,.4f}</td><td class="num">{:,.4g}</td>'
    '<td class="num">{:,.2f}</td><td class="num {}">{:,.2f}</td>'
    '<td class="num {}">{:.2f} %</td><td class="num">{}</td><td>{}</td></tr>\n'
).format


@lru_cache(maxsize=4096)
def _escaped(text: str | None) -> str:
    """Symbols, sides and exit reasons repeat: each is escaped once."""
    return escape(text or "")


def _rows(trades: pl.DataFrame, numbers: Iterable[int], fmt: str) -> list[str]:
    n = trades.height
    bars = trades["bars_held"].to_list() if "bars_held" in trades.columns else [None] * n
    columns = zip(
        trades["symbol"].to_list(),
        trades["side"].to_list(),
        time_texts(trades["entry_time"], fmt),
        trades["entry_price"].to_list(),
        time_texts(trades["exit_time"], fmt),
        trades["exit_price"].to_list(),
        trades["units"].to_list(),
        trades["fees"].to_list(),
        trades["pnl"].to_list(),
        trades["return"].to_list(),
        bars,
        trades["exit_reason"].to_list(),
        strict=True,
    )
    rows = []
    for number, row in zip(numbers, columns, strict=False):
        symbol, side, entry_time, entry_price, exit_time, exit_price = row[:6]
        units, fees, pnl, ret, bars_held, exit_reason = row[6:]
        css = "pos" if pnl > 0 else "neg"
        rows.append(
            _ROW(
                number,
                _escaped(symbol),
                _escaped(side),
                entry_time,
                entry_price,
                exit_time,
                exit_price,
                units,
                fees,
                css,
                pnl,
                css,
                100 * ret,
                "" if bars_held is None else f"{bars_held:,}",
                _escaped(exit_reason),
            )
        )
    return rows


def trade_table_rows(trades: pl.DataFrame, fmt: str, trades_file: str | None) -> Markup:
    """``<tr>`` rows of the first and last ``TRADES_SHOWN_EACH_END`` trades, with a gap row
    saying how many lie between (and where they all are, if the run has ``trades_file``)."""
    n = trades.height
    if n <= 2 * TRADES_SHOWN_EACH_END:
        return Markup("".join(_rows(trades, range(1, n + 1), fmt)))
    hidden = n - 2 * TRADES_SHOWN_EACH_END
    where = (
        f'; every trade is in <a href="{escape(trades_file)}">trades.csv</a>' if trades_file else ""
    )
    gap = f'<tr class="gap"><td colspan="13">… {hidden:,} trades not shown{where} …</td></tr>\n'
    ends = trades.head(TRADES_SHOWN_EACH_END).vstack(trades.tail(TRADES_SHOWN_EACH_END))
    numbers = chain(
        range(1, TRADES_SHOWN_EACH_END + 1), range(hidden + TRADES_SHOWN_EACH_END + 1, n + 1)
    )
    rows = _rows(ends, numbers, fmt)  # both ends at once
    return Markup("".join([*rows[:TRADES_SHOWN_EACH_END], gap, *rows[TRADES_SHOWN_EACH_END:]]))
