"""The HTML report's trade list as data: the first and last trades, drawn by the browser.

The list is the largest table of a report (up to ``2 × TRADES_SHOWN_EACH_END`` rows of 13
cells). Formatted in Python, its cells were most of a daily run's report (1.2 ms of 3.7 on
ten years of five symbols) and a fifth of its bytes; here the shown trades go into the
run's JSON as columns and ``static/report.js`` writes the rows (``tradeRows``), with the
text formats the table had (``{:,.4f}`` prices, ``{:,.4g}`` units, ``{:,.2f}`` money,
``{:.2f} %`` returns, dates or minutes in UTC).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from worker.results.chart_data import seconds

TRADES_SHOWN_EACH_END = 100


def trade_list(trades: pl.DataFrame, intraday: bool, trades_file: str | None) -> dict[str, Any]:
    """The shown trades' columns (numbers as numpy arrays, times in epoch seconds), how
    many lead before the gap (``head``), how many the gap hides and where they all are."""
    n = trades.height
    hidden = max(n - 2 * TRADES_SHOWN_EACH_END, 0)
    shown = (
        trades
        if not hidden
        else trades.head(TRADES_SHOWN_EACH_END).vstack(trades.tail(TRADES_SHOWN_EACH_END))
    )
    bars = shown["bars_held"].to_numpy() if "bars_held" in shown.columns else None
    return {
        "total": n,
        "head": TRADES_SHOWN_EACH_END if hidden else n,
        "hidden": hidden,
        "file": trades_file,
        "intraday": intraday,
        "symbol": shown["symbol"].to_list(),
        "side": shown["side"].to_list(),
        "entry_t": seconds(shown["entry_time"]),
        "entry_price": shown["entry_price"].to_numpy(),
        "exit_t": seconds(shown["exit_time"]),
        "exit_price": shown["exit_price"].to_numpy(),
        "units": shown["units"].to_numpy(),
        "fees": shown["fees"].to_numpy(),
        "pnl": shown["pnl"].to_numpy(),
        "return": shown["return"].to_numpy(),
        "bars_held": bars,
        "exit_reason": shown["exit_reason"].to_list(),
    }
