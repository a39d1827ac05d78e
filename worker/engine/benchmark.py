"""The run's benchmark: buy-and-hold of its own symbols (``frames.buy_and_hold_curve``), or
``config.benchmark``, a symbol of the dataset held from its first close in the window.

The benchmark symbol is traded only when ``config.symbols`` names it; otherwise its bars
are split off before the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from worker.engine.errors import EngineInputError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BenchmarkBars:
    symbol: str
    ts: I64  # UTC microseconds, increasing
    close: F64


def wanted_symbols(symbols: list[str] | None, benchmark: str | None) -> list[str] | None:
    """The symbols to load: the run's, plus the benchmark's (None: all)."""
    if symbols is None or benchmark is None or benchmark in symbols:
        return symbols
    return sorted([*symbols, benchmark])


def split_benchmark(
    frame: pl.DataFrame, symbols: list[str] | None, benchmark: str | None
) -> tuple[pl.DataFrame, BenchmarkBars | None]:
    """(the bars to trade, the benchmark's bars) of a frame holding both."""
    if benchmark is None:
        return frame, None
    own = frame.filter(pl.col("symbol") == benchmark).sort("timestamp")
    if own.height == 0:
        raise EngineInputError(
            f"the benchmark symbol {benchmark} has no bars in the run's window",
            type="unknown_symbol",
            detail={"benchmark": benchmark},
        )
    traded = frame if symbols is not None and benchmark in symbols else None
    if traded is None:
        traded = frame.filter(pl.col("symbol") != benchmark)
    ts = own["timestamp"].cast(pl.Datetime("us", "UTC")).to_physical().to_numpy()
    close = own["close"].to_numpy().astype(np.float64, copy=False)
    return traded, BenchmarkBars(benchmark, ts.astype(np.int64, copy=False), close)


def symbol_curve(grid_ts: I64, bars: BenchmarkBars, capital: float) -> F64:
    """``capital`` bought into the benchmark at its first close and marked at its last close
    at or before each bar of the run's timeline (``capital`` before its first bar)."""
    idx = np.searchsorted(bars.ts, grid_ts, side="right") - 1
    marks = bars.close[np.maximum(idx, 0)]
    out: F64 = np.where(idx >= 0, capital * (marks / bars.close[0]), capital)
    return out
