"""The data the HTML report's charts are drawn from, as compact columnar JSON.

Curves longer than ``MAX_CURVE_POINTS`` are cut into ``CURVE_BUCKETS`` runs of consecutive
bars and each run keeps its first and last bar, its highest and lowest equity and its
deepest drawdown, so a million-bar chart still shows every peak and every trough at the
resolution a screen has. Money is rounded to cents, fractions to six decimals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from worker import jsonsafe
from worker.engine import column_copy
from worker.engine.api import BacktestResult
from worker.engine.drawdowns import DrawdownPeriod

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

MAX_CURVE_POINTS = 10_000
CURVE_BUCKETS = 2_000
MAX_MARKED_TRADES = 2_000
SHADED_DRAWDOWNS = 5


def extreme_rows(equity: F64, drawdown: F64, buckets: int = CURVE_BUCKETS) -> I64:
    """Row numbers to draw, ascending: per bucket of consecutive bars its first, last,
    highest and lowest equity and deepest drawdown."""
    n = len(equity)
    size = -(-n // buckets)
    full = (n // size) * size
    picks = [np.arange(0, n, size), np.minimum(np.arange(size - 1, n + size - 1, size), n - 1)]
    for values, pick in ((equity, np.argmax), (equity, np.argmin), (drawdown, np.argmin)):
        blocks = values[:full].reshape(-1, size)
        picks.append(pick(blocks, axis=1) + np.arange(0, full, size))
        if full < n:
            picks.append(np.array([full + int(pick(values[full:]))]))
    # sorted, then the first of each run of equal rows: np.unique's hashing took 0.75 ms here
    ordered = np.sort(np.concatenate(picks).astype(np.int64))
    rows: I64 = ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]
    return rows


def seconds(timestamps: pl.Series) -> I64 | F64:
    """Epoch seconds: whole ones as integers, else to the millisecond."""
    micros = column_copy.micros(timestamps)
    if (micros % 1_000_000 == 0).all():
        whole: I64 = micros // 1_000_000
        return whole
    fractional: F64 = np.round(micros / 1e6, 3)
    return fractional


def _rounded(values: F64, decimals: int) -> F64:
    """Rounded, kept as an array: the JSON encoder writes arrays directly (NaN as null), at
    about half the cost of Python lists of floats."""
    out: F64 = np.round(values, decimals)
    return out


def _trade_marks(result: BacktestResult) -> dict[str, Any] | None:
    trades = result.trades
    if trades.height == 0 or trades.height > MAX_MARKED_TRADES:
        return None
    times = column_copy.micros(result.equity["timestamp"])
    equity = result.equity["equity"].to_numpy()
    last = len(equity) - 1

    def level(column: str) -> F64:
        rows = np.minimum(np.searchsorted(times, column_copy.micros(trades[column])), last)
        return _rounded(equity[rows], 2)

    return {
        "entry_t": seconds(trades["entry_time"]),
        "entry_equity": level("entry_time"),
        "exit_t": seconds(trades["exit_time"]),
        "exit_equity": level("exit_time"),
        "long": (trades["side"] == "long").to_list(),
        "symbol": trades["symbol"].to_list(),
        "pnl": _rounded(trades["pnl"].to_numpy(), 2),
    }


def chart_data(
    result: BacktestResult, drawdowns: list[DrawdownPeriod], benchmark_label: str
) -> dict[str, Any]:
    """Curves (possibly reduced), trade markers and the worst drawdowns to shade; numbers
    in numpy arrays (``script_json`` writes them)."""
    frame = result.equity
    equity = frame["equity"].to_numpy()
    drawdown = frame["drawdown"].to_numpy()
    bars = len(equity)
    rows = extreme_rows(equity, drawdown) if bars > MAX_CURVE_POINTS else None

    def column(values: F64, decimals: int) -> F64:
        return _rounded(values if rows is None else values[rows], decimals)

    times = frame["timestamp"] if rows is None else frame["timestamp"].gather(rows)
    curve: dict[str, Any] = {
        "t": seconds(times),
        "equity": column(equity, 2),
        "drawdown": column(drawdown, 6),
    }
    bench = result.benchmark if result.benchmark is not None else result.buy_and_hold
    if bench is not None:
        curve["buy_and_hold"] = column(bench.to_numpy(), 2)
    if result.walk_forward is not None:
        curve["in_sample"] = column(result.walk_forward.in_sample.to_numpy(), 2)
    worst = drawdowns[:SHADED_DRAWDOWNS]
    return {
        "bars": bars,
        "points": len(curve["t"]),
        "curve": curve,
        "benchmark_label": benchmark_label,
        "strategy_label": "Out of sample (walk-forward)" if result.walk_forward else "Strategy",
        "initial_capital": float(result.resolved_config["initial_capital"]),
        "trades": _trade_marks(result),
        "trades_total": result.trades.height,
        "shaded": [
            {
                "start": p.start.timestamp(),
                "end": (p.recovery or frame["timestamp"][-1]).timestamp(),
                "depth": p.depth,
            }
            for p in worst
        ],
    }


_SCRIPT_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def script_json(value: Any) -> str:
    """JSON that is safe inside ``<script>``: no ``</script>``, ``<!--`` or ``&`` survive
    (they are written as ``\\u`` escapes, which JSON.parse reads back unchanged)."""
    text = jsonsafe.dumps(value)
    for char, escape in _SCRIPT_ESCAPES:
        text = text.replace(char, escape)
    return text
