"""The portfolio figure of bench/engine.py: one backtest of several symbols sharing one cash
balance, through ``run_backtest`` (the worker's path), with the default sizing (1/n of
equity per entry) and the single run's SMA(10/30) crossover and config.

The goal (issue 12) is 8 symbols x 1M one-minute bars in <= 0.5 s; vectorbt PRO publishes
25 ms for that size on an 8-core M3. Open vectorbt is not timed here: making its
cash-sharing portfolio size entries as this engine does (1/n of the equity at the fill,
capped at the buying power left) is not a cheap call, and a ratio on other trades would not
be a figure (bench/agreement.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The goal's size: symbols x one-minute bars each.
SYMBOLS = 8


def write_data(bars: int, symbols: int, dest: Path) -> str:
    """A seeded aligned dataset of ``symbols`` x ``bars`` one-minute bars as Parquet."""
    from worker.engine import generate_bars, write_canonical_parquet

    names = [f"SYM{i}" for i in range(symbols)]
    return str(write_canonical_parquet(generate_bars(names, bars, "1m", seed=7), dest))


def work_engine_portfolio(
    path: str,
    config: dict[str, Any],
    baseline_mb: Callable[[], float],
    peak_mb: Callable[[], float],
) -> dict[str, Any]:
    """Best and median of 3 runs, after one warm-up on the first 1,000 bars of each symbol and
    one on all of them (its peak memory counts)."""
    import polars as pl

    from worker.engine import run_backtest

    bars = pl.read_parquet(path)
    params = {"kind": "sma_crossover", "fast_period": 10, "slow_period": 30}
    warm = bars.group_by("symbol", maintain_order=True).head(1000)
    run_backtest(warm, params, config, initial_capital=10_000, timeframe="1m")
    base = baseline_mb()
    run_backtest(bars, params, config, initial_capital=10_000, timeframe="1m")  # heap growth
    times, res = [], None
    for _i in range(3):
        t = time.perf_counter()
        res = run_backtest(bars, params, config, initial_capital=10_000, timeframe="1m")
        times.append(time.perf_counter() - t)
    assert res is not None
    return {
        "symbols": int(bars["symbol"].n_unique()),
        "rows": bars.height,
        "seconds": min(times),
        "median": sorted(times)[len(times) // 2],
        "stages": {k: round(v, 4) for k, v in res.timings.items()},
        "peak_mb": peak_mb() - base,
        "trades": res.metrics["total_trades"],
    }


def summary_line(out: dict[str, Any]) -> str:
    return (
        f"  engine portfolio ({out['symbols']} symbols x {out['rows'] // out['symbols']:,} "
        f"bars, default 1/n sizing): {out['seconds']:.2f} s (median {out['median']:.2f} s), "
        f"{out['trades']} trades; goal <= 0.5 s (vectorbt PRO publishes 25 ms on an "
        "8-core M3; open vectorbt not compared: other sizing)"
    )
