"""A simulation as the result's frames: the equity curve, the trade list, buy-and-hold.

Pure: the market data and the simulation in, polars frames out. Shared by a single run
(`api.simulate_run`) and walk-forward's per-fold test windows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from worker.engine.curve_kernels import exposure_drawdown, exposure_ratio, scaled_growth
from worker.engine.drawdowns import drawdown_curve
from worker.engine.execution import EXIT_REASONS
from worker.engine.growth_sums import buy_and_hold_mean
from worker.engine.market import F64, MarketData
from worker.engine.portfolio import Curve, Fills
from worker.engine.portfolio_kernel import ROW_SUM_MAX, buy_and_hold
from worker.engine.simulate import Simulation

UTC = pl.Datetime("us", "UTC")
SIDES = pl.Series(["short", "long"], dtype=pl.String)
REASONS = pl.Series(EXIT_REASONS, dtype=pl.String)


def utc_timestamps(values: np.ndarray) -> pl.Series:
    """UTC microseconds as a Datetime series (an int64 array is not copied)."""
    return pl.Series(values=values.astype(np.int64, copy=False), dtype=UTC)


def equity_frame(md: MarketData, sim: Simulation) -> pl.DataFrame:
    """timestamp, equity, cash, position_value, exposure (gross position value over
    equity, null where equity <= 0) and drawdown; each column built once in numpy and
    handed to polars without a copy."""
    curve = sim.curve
    if curve.derived is not None:  # computed in the curve's pass
        exposure, drawdown = curve.derived.exposure, curve.derived.drawdown
        positive = curve.derived.positive
    else:
        exposure, drawdown, positive = derived_columns(curve, sim.capital)
    frame = pl.DataFrame(
        {
            "timestamp": utc_timestamps(md.grid_ts),
            "equity": curve.equity,
            "cash": curve.cash,
            "position_value": curve.position_value,
            "exposure": exposure,
            "drawdown": drawdown,
        }
    )
    if curve.equity.shape[0] and positive:  # False when some equity is NaN
        return frame
    return frame.with_columns(pl.when(pl.col("equity") > 0).then(pl.col("exposure")))


def derived_columns(curve: Curve, capital: float) -> tuple[F64, F64, bool]:
    """(exposure, drawdown, whether every equity is > 0) of a curve."""
    equity = np.ascontiguousarray(curve.equity)
    absolute = curve.gross is None
    value = np.ascontiguousarray(curve.position_value if curve.gross is None else curve.gross)
    exposure, drawdown = np.empty(equity.shape[0]), np.empty(equity.shape[0])
    whole, positive = exposure_drawdown(value, equity, capital, absolute, exposure, drawdown)
    if not whole:  # a NaN equity: each column on its own path
        positive = exposure_ratio(value, equity, absolute, exposure)
        drawdown = drawdown_curve(equity, capital)
    return exposure, drawdown, positive


def buy_and_hold_paths(md: MarketData, capital: float) -> tuple[pl.Series, float | None]:
    """``buy_and_hold_curve`` and, on one symbol, the mean of its returns against
    ``capital`` (``growth_sums``: one pass for the two)."""
    if md.n_symbols != 1:
        return buy_and_hold_curve(md, capital), None
    values, mean = buy_and_hold_mean(md.close, capital)
    return pl.Series("buy_and_hold", values, dtype=pl.Float64), mean


def buy_and_hold_curve(md: MarketData, capital: float) -> pl.Series:
    """Equal-weight buy-and-hold on the run's timeline: ``capital / k`` in each of the k
    symbols at its first close; before a symbol's first bar its share waits in cash."""
    if md.n_symbols == 1:
        values = np.empty(md.n)
        scaled_growth(md.close, capital, values)
    elif md.n_symbols <= ROW_SUM_MAX:
        values = np.empty(md.n_times)
        first = md.close[md.starts]
        buy_and_hold(md.close_by_symbol, first, float(capital), values)
    else:
        close_w = md.marks[0]
        first = md.close[md.starts]
        growth = np.divide(close_w, first, out=np.ones_like(close_w), where=close_w > 0)
        values = capital * growth.mean(axis=1)
    return pl.Series("buy_and_hold", values, dtype=pl.Float64)


def trades_frame(md: MarketData, sim: Simulation) -> pl.DataFrame:
    """One row per executed trade of the simulation (``trade_rows``)."""
    return trade_rows(md, sim.fills, sim.pnl, sim.trade_returns)


def trade_rows(md: MarketData, fills: Fills, pnl: F64, returns: F64) -> pl.DataFrame:
    """One row per executed trade of ``fills``, whose pnl and returns are given. The
    columns go to polars as numpy arrays (views where every fill executed) and the strings
    are made from their codes in one query: each polars call costs a few tenths of a
    millisecond after the simulation's passes."""
    legs = fills.legs
    done = fills.units > 0
    take = slice(None) if done.all() else done  # a slice keeps the columns views, not copies
    entry_row, exit_row = legs.entry_row[take], legs.exit_row[take]
    codes = pl.DataFrame(
        {
            "symbol": legs.sym[take],
            "side": (legs.side[take] > 0).astype(np.int64),
            "entry_time": utc_timestamps(md.ts[entry_row]),
            "entry_price": legs.entry_price[take],
            "exit_time": utc_timestamps(md.grid_ts[legs.exit_t[take]]),
            "exit_price": legs.exit_price[take],
            "units": fills.units[take],
            "fees": fills.fees[take],
            "pnl": pnl,
            "return": returns,
            "exit_reason": legs.reason[take].astype(np.int64),
            "bars_held": (exit_row - entry_row).astype(np.int64, copy=False),
        }
    )
    symbols = pl.Series(md.symbols, dtype=pl.String)
    frame = codes.with_columns(
        pl.lit(symbols).gather(pl.col("symbol")).alias("symbol"),
        pl.lit(SIDES).gather(pl.col("side")).alias("side"),
        pl.lit(REASONS).gather(pl.col("exit_reason")).alias("exit_reason"),
    )
    if md.n_symbols > 1:  # chronological across symbols
        frame = frame.sort("entry_time", "symbol", maintain_order=True)
    return frame
