"""The equity chart: equity above, drawdown beneath, trade entries and exits marked.

Pure rendering: DataFrames in, PNG bytes out. It uses matplotlib's object API with the Agg
canvas, never pyplot: pyplot keeps global state and is not safe in the worker's threads.
"""

from __future__ import annotations

import io

import matplotlib.dates as mdates
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_MARKERS = 400


def equity_png(equity: pl.DataFrame, trades: pl.DataFrame, title: str) -> bytes:
    """PNG of the equity curve with drawdown beneath and (up to 400) trade markers."""
    figure = Figure(figsize=(11, 6.5), dpi=110)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    times = equity["timestamp"].to_list()
    top.plot(times, equity["equity"].to_list(), color="#1f5fa8", linewidth=1.2, label="equity")
    top.set_title(title, fontsize=11, loc="left")
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    _mark_trades(top, equity, trades)
    top.legend(loc="upper left", fontsize=8, frameon=False)

    drawdown = [100.0 * value for value in equity["drawdown"].to_list()]
    bottom.fill_between(times, drawdown, 0.0, color="#c0392b", alpha=0.35, linewidth=0)
    bottom.plot(times, drawdown, color="#c0392b", linewidth=0.8)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    bottom.xaxis.set_major_formatter(formatter)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _mark_trades(axis: Axes, equity: pl.DataFrame, trades: pl.DataFrame) -> None:
    """Entries as triangles (up long, down short) and exits as dots, at the equity level."""
    if trades.height == 0 or trades.height > MAX_MARKERS:
        return
    curve = equity.select("timestamp", "equity").sort("timestamp")

    def at_equity(column: str) -> pl.DataFrame:
        points = trades.select(pl.col(column).alias("timestamp"), "side").sort("timestamp")
        return points.join_asof(curve, on="timestamp", strategy="backward")

    entries = at_equity("entry_time")
    for side, marker, color in (("long", "^", "#1e8449"), ("short", "v", "#c0392b")):
        chosen = entries.filter(pl.col("side") == side)
        if chosen.height:
            axis.scatter(
                chosen["timestamp"].to_list(),
                chosen["equity"].to_list(),
                marker=marker,
                color=color,
                s=28,
                zorder=3,
                label=f"{side} entry",
            )
    exits = at_equity("exit_time")
    axis.scatter(
        exits["timestamp"].to_list(),
        exits["equity"].to_list(),
        marker="o",
        facecolors="none",
        edgecolors="#555555",
        s=18,
        zorder=3,
        label="exit",
    )
