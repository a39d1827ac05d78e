"""The HTML report's trade list: the first and last trades as table rows, built in one pass.

The list is the largest table of a report (up to ``2 × TRADES_SHOWN_EACH_END`` rows of 13
cells). Through the template each cell cost an attribute lookup and an escape; here the
times are formatted column-wise by polars, the numbers by one format string per row, and
only the cells that carry text from the data (symbol, side, exit reason) are escaped.
"""

from __future__ import annotations

from html import escape

import polars as pl
from markupsafe import Markup

TRADES_SHOWN_EACH_END = 100

_ROW = (
    '<tr><td class="num muted">{number:,}</td><td>{symbol}</td><td>{side}</td>'
    '<td>{entry_time}</td><td class="num">{entry_price:,.4f}</td><td>{exit_time}</td>'
    '<td class="num">{exit_price:,.4f}</td><td class="num">{units:,.4g}</td>'
    '<td class="num">{fees:,.2f}</td><td class="num {css}">{pnl:,.2f}</td>'
    '<td class="num {css}">{ret:.2f} %</td><td class="num">{bars}</td><td>{exit_reason}</td></tr>\n'
)


def _rows(trades: pl.DataFrame, first_number: int, fmt: str) -> list[str]:
    bars = pl.col("bars_held") if "bars_held" in trades.columns else pl.lit(None)
    shown = trades.select(
        "symbol",
        "side",
        pl.col("entry_time").dt.to_string(fmt).fill_null(""),
        "entry_price",
        pl.col("exit_time").dt.to_string(fmt).fill_null(""),
        "exit_price",
        "units",
        "fees",
        "pnl",
        (100 * pl.col("return")).alias("ret"),
        bars.alias("bars"),
        "exit_reason",
    )
    return [
        _ROW.format(
            number=first_number + i,
            symbol=escape(symbol),
            side=escape(side),
            entry_time=entry_time,
            entry_price=entry_price,
            exit_time=exit_time,
            exit_price=exit_price,
            units=units,
            fees=fees,
            pnl=pnl,
            css="pos" if pnl > 0 else "neg",
            ret=ret,
            bars="" if bars_held is None else f"{bars_held:,}",
            exit_reason=escape(exit_reason or ""),
        )
        for i, (
            symbol,
            side,
            entry_time,
            entry_price,
            exit_time,
            exit_price,
            units,
            fees,
            pnl,
            ret,
            bars_held,
            exit_reason,
        ) in enumerate(shown.iter_rows())
    ]


def trade_table_rows(trades: pl.DataFrame, fmt: str, trades_file: str | None) -> Markup:
    """``<tr>`` rows of the first and last ``TRADES_SHOWN_EACH_END`` trades, with a gap row
    saying how many lie between (and where they all are, if the run has ``trades_file``)."""
    n = trades.height
    if n <= 2 * TRADES_SHOWN_EACH_END:
        return Markup("".join(_rows(trades, 1, fmt)))
    hidden = n - 2 * TRADES_SHOWN_EACH_END
    where = (
        f'; every trade is in <a href="{escape(trades_file)}">trades.csv</a>' if trades_file else ""
    )
    gap = f'<tr class="gap"><td colspan="13">… {hidden:,} trades not shown{where} …</td></tr>\n'
    head = _rows(trades.head(TRADES_SHOWN_EACH_END), 1, fmt)
    tail = _rows(trades.tail(TRADES_SHOWN_EACH_END), n - TRADES_SHOWN_EACH_END + 1, fmt)
    return Markup("".join([*head, gap, *tail]))
